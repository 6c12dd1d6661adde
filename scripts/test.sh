#!/usr/bin/env bash
# The whole test suite, in one command: installs what the tests need (Debian packages, a
# Python venv with oras, a cached Garage build), starts PostgreSQL, then runs every unit and
# integration test of the workspace on the embedded default (SQLite + filesystem), and the
# integration suite again on the production backends: PostgreSQL + S3 (a real Garage server).
# Extra arguments go to `cargo test` (e.g. ./scripts/test.sh clients).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh
cache=${BERTH_CACHE_DIR:-$HOME/.cache/berth}
export BERTH_TOOLS_DIR=${BERTH_TOOLS_DIR:-$cache/venv/bin:$cache/bin}
pg_url=$(./scripts/start-postgres.sh | tail -n 1)
case $pg_url in
  postgres://*) ;;
  *) echo "scripts/start-postgres.sh printed no PostgreSQL URL (got: $pg_url)" >&2; exit 1 ;;
esac
# Tests that always need PostgreSQL (the cluster tests) find it here.
export BERTH_IT_PG_ADMIN_URL=$pg_url

# The engine's daemon must be up for the docker CLI test; say so plainly if it is not.
if ! docker info >/dev/null 2>&1; then
  echo "warning: the docker engine does not answer; the docker CLI test will fail" >&2
fi

echo "== SQLite + filesystem: every test of the workspace"
cargo test --workspace "$@"

echo "== PostgreSQL + S3 (Garage): the integration suite"
garage_dir=$cache/it-garage
trap 'kill "$(cat "$garage_dir/garage.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
eval "$(cargo run -q -p berth-testkit --bin berth-it-garage -- "$garage_dir")"
BERTH_IT_PG_URL=$pg_url cargo test -p berth-gateway --test it "$@"
