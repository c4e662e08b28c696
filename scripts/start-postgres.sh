#!/usr/bin/env bash
# Starts a private PostgreSQL cluster for the tests and benchmarks: its own data directory, its own
# port on 127.0.0.1 and its own socket directory. The machine's own clusters are never started,
# stopped or reconfigured. Prints the export line for the test database, e.g.
#   eval "$(bash scripts/start-postgres.sh)"
# Stop it with scripts/stop-postgres.sh (test-all.sh does, on exit).
set -euo pipefail
dir=${LOKIBAN_TEST_PG_DIR:-/var/tmp/lokiban-test-pg}
port=${LOKIBAN_TEST_PG_PORT:-55432}
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
bin=/usr/lib/postgresql/$version/bin

# PostgreSQL refuses to run as root: as root the cluster belongs to the postgres user.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
chmod 0700 "$dir"
if [ ! -s "$dir/data/PG_VERSION" ]; then
  as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log"
fi
if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
fi
psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qtA)
"${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='lokiban'" | grep -q 1 ||
  "${psql[@]}" -c "CREATE ROLE lokiban LOGIN PASSWORD 'lokiban' CREATEDB" >/dev/null
"${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='lokiban_test'" | grep -q 1 ||
  "${psql[@]}" -c "CREATE DATABASE lokiban_test OWNER lokiban" >/dev/null
echo "export LOKIBAN_TEST_POSTGRES_URL=postgres://lokiban:lokiban@127.0.0.1:$port/lokiban_test"
