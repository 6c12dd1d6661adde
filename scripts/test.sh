#!/usr/bin/env bash
# The whole test suite, in one command: installs what the tests need (Debian packages, a
# Python venv with oras), starts PostgreSQL, then runs every unit and integration test of the
# workspace on the embedded default (SQLite + filesystem), and the integration suite again with
# its metadata in PostgreSQL. Extra arguments go to `cargo test` (e.g. ./scripts/test.sh clients).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh
export BERTH_TOOLS_DIR=${BERTH_TOOLS_DIR:-${BERTH_CACHE_DIR:-$HOME/.cache/berth}/venv/bin}
pg_url=$(./scripts/start-postgres.sh)

# The engine's daemon must be up for the docker CLI test; say so plainly if it is not.
if ! docker info >/dev/null 2>&1; then
  echo "warning: the docker engine does not answer; the docker CLI test will fail" >&2
fi

echo "== SQLite + filesystem: every test of the workspace"
cargo test --workspace "$@"

echo "== PostgreSQL + filesystem: the integration suite"
BERTH_IT_PG_URL=$pg_url cargo test -p berth-gateway --test it "$@"
