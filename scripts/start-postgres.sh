#!/usr/bin/env bash
# Starts Debian's PostgreSQL cluster on loopback and creates the test role and database.
set -euo pipefail
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  pg_createcluster "$version" main >/dev/null
fi
pg_ctlcluster "$version" main start 2>/dev/null || pg_ctlcluster "$version" main status >/dev/null
for _ in $(seq 1 30); do
  su postgres -c "pg_isready -q -h 127.0.0.1" && break
  sleep 1
done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='lokiban'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE lokiban LOGIN PASSWORD 'lokiban' CREATEDB\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='lokiban_test'\"" | grep -q 1 ||
  su postgres -c "createdb -O lokiban lokiban_test"
