#!/usr/bin/env bash
# Starts the machine's PostgreSQL cluster for the tests (idempotent), makes sure the role
# `berth` (password `berth`, may create databases) exists, drops databases left by earlier
# test runs, and prints the admin URL the suite uses (BERTH_IT_PG_URL).
set -euo pipefail

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
[ -n "$ver" ] || { echo "PostgreSQL is not installed (scripts/install-test-deps.sh installs it)" >&2; exit 1; }
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$ver main"; then
  as_root pg_createcluster "$ver" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
  # Progress messages (e.g. "Removed stale pid file." after the machine lost a running
  # server) go to stderr: stdout carries only the URL.
  as_root pg_ctlcluster "$ver" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')
for _ in $(seq 1 50); do
  as_postgres psql -p "$port" -qAtc 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.2
done
as_postgres psql -p "$port" -qAtc "DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'berth') THEN
    CREATE ROLE berth LOGIN PASSWORD 'berth' CREATEDB;
  END IF;
END\$\$;" >/dev/null
for db in $(as_postgres psql -p "$port" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'berth_it_%'"); do
  as_postgres psql -p "$port" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
done
echo "postgres://berth:berth@127.0.0.1:$port/postgres"
