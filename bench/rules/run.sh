#!/usr/bin/env bash
# Rule evaluation benchmark: `lokiban rules test --explain` on a 1,000,000-line sshd log versus
# Debian's fail2ban-regex with its stock sshd filter, on the same file, one after the other.
# Usage: bash bench/rules/run.sh [LINES]   (needs: node, fail2ban, /usr/bin/time; writes bench/out/)
set -euo pipefail
cd "$(dirname "$0")/../.."

lines="${1:-1000000}"
log="bench/out/sshd-${lines}.log"
mkdir -p bench/out

npm run -s build
[ -f "$log" ] || npx tsx bench/rules/generate-sshd-log.ts "$log" "$lines"

measure() { # name, command...
  local name="$1"; shift
  /usr/bin/time -v "$@" >"bench/out/$name.out" 2>"bench/out/$name.time"
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "bench/out/$name.time")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "bench/out/$name.time")
  echo "$name | wall $wall | peak RSS $((rss / 1024)) MiB"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, node $(node -v), $(fail2ban-regex --version | head -1)"
measure lokiban-explain-summary node dist/cli/main.js rules test --jail sshd --format loki --explain "$log" --summary
grep '^# sshd' bench/out/lokiban-explain-summary.out
measure lokiban-explain-per-line node dist/cli/main.js rules test --jail sshd --format loki --explain "$log"
tail -n 11 bench/out/lokiban-explain-per-line.out | head -1
measure lokiban-aggressive-summary node dist/cli/main.js rules test --jail sshd-aggressive --format loki --explain "$log" --summary
grep '^# sshd' bench/out/lokiban-aggressive-summary.out
measure fail2ban-regex fail2ban-regex "$log" /etc/fail2ban/filter.d/sshd.conf
grep -E '^Lines:|processed in' bench/out/fail2ban-regex.out
