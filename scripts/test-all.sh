#!/usr/bin/env bash
# Installs everything the test suite needs on Debian 12 (run as root), then runs every test.
# Idempotent: safe to run again on a machine that already has the packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test-all.sh needs root: network namespaces, nftables and apt packages" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_packages=(
  openssh-server openssh-client nftables ipset iptables iproute2 procps
  prometheus-alertmanager postgresql chromium fonts-dejavu-core fail2ban python3
)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The machine's own services (its sshd, Alertmanager, fail2ban, PostgreSQL) are never stopped,
# disabled or reconfigured: the tests start their own instances on their own ports, sockets and
# directories (sshd per network namespace, Alertmanager on a free loopback port, a private
# PostgreSQL cluster), and the test sshds log to stderr, where no fail2ban reads them.
trap 'bash scripts/stop-postgres.sh' EXIT
eval "$(bash scripts/start-postgres.sh)"

npm ci --no-audit --no-fund
npm run build
npm run lint
npm run typecheck
report_dir=$(mktemp -d)
LOKIBAN_TEST_REPORT_DIR="$report_dir" npm test
node scripts/check-test-reports.mjs "$report_dir"
