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
# The packaged services are started by the tests themselves (sshd per namespace, Alertmanager on
# loopback); the distribution's own instances must not hold ports or keys the tests use.
# fail2ban is only the reference for the escalation parity test: its daemon must not ban test traffic.
systemctl disable --now prometheus-alertmanager ssh fail2ban 2>/dev/null || true

bash scripts/start-postgres.sh
export LOKIBAN_TEST_POSTGRES_URL="postgres://lokiban:lokiban@127.0.0.1:5432/lokiban_test"

npm ci --no-audit --no-fund
npm run build
npm run lint
npm run typecheck
report_dir=$(mktemp -d)
LOKIBAN_TEST_REPORT_DIR="$report_dir" npm test
node scripts/check-test-reports.mjs "$report_dir"
