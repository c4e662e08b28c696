#!/usr/bin/env bash
# Installs everything the test suite needs on Debian 12, then runs every test: as root,
# `bash scripts/test-all.sh`; as a user with sudo, `sudo bash scripts/test-all.sh`.
# Idempotent: safe to run again on a machine that already has the packages and node_modules.
#
# LOKIBAN_TEST_NODE_MAJORS (default "24"): the Node.js lines the responder suite also runs on, besides
# the machine's own Node; "" runs it on the machine's Node only, "22 24" on both LTS lines.
# LOKIBAN_TEST_PG_DIR and LOKIBAN_TEST_PG_PORT: the private PostgreSQL cluster (scripts/start-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test-all.sh needs root (network namespaces, nftables, apt packages): run it as root, or as" >&2
  echo "  sudo bash scripts/test-all.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_packages=(
  openssh-server openssh-client nftables ipset iptables iproute2 procps
  prometheus-alertmanager postgresql chromium fonts-dejavu-core fail2ban python3
  # node-gyp compiles the native addons (better-sqlite3, ssh2) when no prebuilt binary can be fetched.
  make g++
)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # The machine's own services are never stopped, disabled or reconfigured. Several of these packages
  # start a daemon when installed (sshd on port 22, Alertmanager on 9093, fail2ban banning, PostgreSQL
  # on 5432); the tests need none of them, so while they install a policy-rc.d refuses every start
  # (Debian's invoke-rc.d protocol, exit 101). A policy-rc.d already there is left as it is.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    own_policy=1
    trap 'rm -f "$policy"' EXIT
    printf '#!/bin/sh\n# scripts/test-all.sh: no daemon starts while the test packages install.\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
  fi
  echo "installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$own_policy" ]; then
    rm -f "$policy"
    trap - EXIT
  fi
  echo "installed ${missing[*]}: none of their services was started (with systemd, Debian enables them for the next boot)"
fi
# The tests start their own instances on their own ports, sockets and directories: an sshd per network
# namespace, Alertmanager on a free loopback port, a private PostgreSQL cluster; the test sshds log to
# stderr, where no fail2ban reads them.
trap 'bash scripts/stop-postgres.sh' EXIT
eval "$(bash scripts/start-postgres.sh)"

# node-gyp compiles the files of a native addon in parallel.
export JOBS=${JOBS:-max}
# A checkout already installed for this Node (by `npm ci` before) is not installed again: that would
# compile its native addons a second time.
if reason=$(node scripts/installed.mjs check); then
  echo "node_modules is current for Node $(node -v)"
else
  echo "npm ci ($reason)"
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
npm run --silent lint
npm run --silent typecheck

# Reports and logs of this run; responder logs go to files, and a failed test prints its own.
results=test-results
rm -rf "$results/reports" "$results/logs"
mkdir -p "$results/reports" "$results/logs"
export LOKIBAN_TEST_REPORT_DIR=$PWD/$results/reports
failed=0
suite() { # name, command…: runs one suite with its logs in their own directory
  local name=$1
  shift
  LOKIBAN_TEST_LOG_DIR=$PWD/$results/logs/$name "$@" || failed=1
}
node_major=$(node -p 'process.versions.node.split(".")[0]')
suite "responder-node$node_major" npx vitest run
suite grafana-plugin npm test --silent -w grafana-plugin
for major in ${LOKIBAN_TEST_NODE_MAJORS-24}; do
  [ "$major" = "$node_major" ] && continue
  suite "responder-node$major" bash scripts/test-on-node.sh "$major"
done

node scripts/check-test-reports.mjs "$results/reports" || failed=1
if [ "$failed" -ne 0 ]; then
  echo "tests failed; what the responders logged is in $results/logs/" >&2
  exit 1
fi
