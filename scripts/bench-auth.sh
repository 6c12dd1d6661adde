#!/usr/bin/env bash
# The token-service benchmark of the identity issue, against a release Berth on the embedded
# default: token requests per second with a refresh token (docker's OAuth2 POST) and with
# Basic credentials (one argon2id check each), and manifest GETs by tag at 32 connections
# with a user's token and with an anonymous token (public org), plus the plain manifest
# scenario for comparison with scripts/bench.sh's table.
# Usage: scripts/bench-auth.sh [berth-bench run options...]   (e.g. --manifest-secs 5)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/berth/target}
cargo build --release -p berth-gateway -p berth-bench >&2
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-auth.XXXXXX")
PORT=$((20000 + RANDOM % 40000))
# One token for the whole run, as a docker client reuses its token while it lives.
export BERTH_ADMIN_PASSWORD=bench-admin-password BERTH_AUTH__TOKEN_TTL_SECS=86400
RUST_LOG=warn "$BIN/berth" serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  > "$WORK/server.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" || true)
  [ "$code" = 401 ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done
BENCH_USER=admin BENCH_PASSWORD=$BERTH_ADMIN_PASSWORD "$BIN/berth-bench" run \
  --url "http://127.0.0.1:$PORT" --pid "$PID" --name berth --scenarios "${BENCH_SCENARIOS:-manifest,auth}" "$@"
