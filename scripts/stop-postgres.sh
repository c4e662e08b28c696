#!/usr/bin/env bash
# Stops the private cluster scripts/start-postgres.sh started (same LOKIBAN_TEST_PG_DIR); nothing else.
set -euo pipefail
dir=${LOKIBAN_TEST_PG_DIR:-/var/tmp/lokiban-test-pg}
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
[ -s "$dir/data/PG_VERSION" ] || exit 0
if [ "$(id -u)" -eq 0 ]; then
  runuser -u postgres -- "/usr/lib/postgresql/$version/bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
else
  "/usr/lib/postgresql/$version/bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
fi
