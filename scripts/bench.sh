#!/usr/bin/env bash
# Benchmarks Berth against CNCF distribution 2.8 (Debian's docker-registry) on this machine and
# writes docs/BENCHMARKS.md.
#
# Usage: scripts/bench.sh [berth-bench run options...]
#   e.g. scripts/bench.sh --scale 0.1     (a quick smoke run; figures are then not comparable)
#
# Builds release binaries, starts each registry alone on a free loopback port with a fresh data
# directory under ${TMPDIR:-/tmp}, runs `berth-bench run` against it with the server's PID (for
# its CPU time and RSS), stops it, and renders both results with `berth-bench report`.
#   - Berth runs with its default configuration; only RUST_LOG=warn is set, so the per-request
#     access log lines (info level) are not written.
#   - distribution runs with the fixture's filesystem config (tests' registry-start.sh), log
#     level warn, its access log disabled (the counterpart of Berth's RUST_LOG=warn) and the
#     in-memory blob descriptor cache of Debian's packaged default config.
# Needs docker-registry (scripts/install-test-deps.sh installs it), curl and ss.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/docs/BENCHMARKS.md

die() { echo "bench.sh: $*" >&2; exit 1; }

command -v docker-registry >/dev/null 2>&1 ||
  die "docker-registry (CNCF distribution 2.8) is not installed; run scripts/install-test-deps.sh"
command -v curl >/dev/null 2>&1 || die "curl is needed"

echo "building release binaries..." >&2
cargo build --release -p berth-gateway -p berth-bench >&2
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
[ -x "$BIN/berth" ] && [ -x "$BIN/berth-bench" ] || die "release binaries not found in $BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() {
  if command -v ss >/dev/null 2>&1; then
    [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p"; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

# Berth's first admin; the benchmark logs in with it through the token service (tokens live a
# day, so one token serves the whole run, as a docker client reuses its token).
export BERTH_ADMIN_PASSWORD=bench-admin-password
export BERTH_AUTH__TOKEN_TTL_SECS=86400
export BENCH_USER=admin BENCH_PASSWORD=$BERTH_ADMIN_PASSWORD

# wait_ready <name> <port> <log>: until /v2/ answers 200 (401: asks for a token) from our
# server process.
wait_ready() {
  local code=""
  for _ in $(seq 1 200); do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$3" >&2; die "$1 exited during start-up"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/v2/" || true)
    [ "$code" = 200 ] || [ "$code" = 401 ] && return 0
    sleep 0.1
  done
  tail -20 "$3" >&2
  die "$1 did not answer on port $2 (last status: ${code:-none})"
}

# bench <name> <port> <json> <md>: the benchmark against the running server.
bench() {
  echo "benchmarking $1 (pid $SERVER_PID, port $2)..." >&2
  "$BIN/berth-bench" run --url "http://127.0.0.1:$2" --pid "$SERVER_PID" --name "$1" \
    --json "$3" "${BENCH_ARGS[@]}" > "$4"
}
BENCH_ARGS=("$@")

# --- Berth -------------------------------------------------------------------------------------
PORT=$(free_port)
port_free "$PORT" || die "port $PORT is taken"
mkdir -p "$WORK/berth"
RUST_LOG=warn "$BIN/berth" serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/berth/data" \
  > "$WORK/berth/server.log" 2>&1 &
SERVER_PID=$!
wait_ready berth "$PORT" "$WORK/berth/server.log"
bench "Berth" "$PORT" "$WORK/berth.json" "$WORK/berth.md"
stop_server
rm -rf "$WORK/berth/data"

# --- Berth on PostgreSQL + S3 (Garage) -----------------------------------------------------------
# The production backends on the same machine: the local PostgreSQL cluster (a fresh database)
# and a single-node Garage server (scripts/install-test-deps.sh installs both). Skipped with
# BENCH_PRODUCTION=0.
if [ "${BENCH_PRODUCTION:-1}" != 0 ]; then
  CACHE=${BERTH_CACHE_DIR:-$HOME/.cache/berth}
  export BERTH_TOOLS_DIR=${BERTH_TOOLS_DIR:-$CACHE/venv/bin:$CACHE/bin}
  PG_ADMIN=$(./scripts/start-postgres.sh)
  PG_DB=berth_bench_$$
  psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
  psql "$PG_ADMIN" -qAtc "CREATE DATABASE $PG_DB" >/dev/null
  PG_URL="${PG_ADMIN%/*}/$PG_DB"
  cargo build -q -p berth-testkit --bin berth-it-garage >&2
  eval "$("${CARGO_TARGET_DIR:-$ROOT/target}/debug/berth-it-garage" "$WORK/garage")"
  GARAGE_PID=$(cat "$WORK/garage/garage.pid")
  PORT=$(free_port)
  mkdir -p "$WORK/berth-prod"
  RUST_LOG=warn BERTH_DATABASE__URL=$PG_URL \
    BERTH_STORAGE__S3__ENDPOINT=$BERTH_IT_S3_ENDPOINT BERTH_STORAGE__S3__BUCKET=$BERTH_IT_S3_BUCKET \
    BERTH_STORAGE__S3__REGION=garage BERTH_STORAGE__S3__PATH_STYLE=true \
    BERTH_STORAGE__S3__ACCESS_KEY_ID=GK0123456789abcdef01234567 \
    BERTH_STORAGE__S3__SECRET_ACCESS_KEY=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
    "$BIN/berth" serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/berth-prod/data" \
    > "$WORK/berth-prod/server.log" 2>&1 &
  SERVER_PID=$!
  wait_ready berth "$PORT" "$WORK/berth-prod/server.log"
  bench "Berth (PostgreSQL + Garage)" "$PORT" "$WORK/berth-prod.json" "$WORK/berth-prod.md"
  stop_server
  kill "$GARAGE_PID" 2>/dev/null || true
  psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true
  rm -rf "$WORK/garage" "$WORK/berth-prod/data"
fi

# --- distribution 2.8 --------------------------------------------------------------------------
PORT=$(free_port)
port_free "$PORT" || die "port $PORT is taken"
D=$WORK/distribution
mkdir -p "$D/data"
cat > "$D/config.yml" <<CONF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $D/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  secret: bench-secret
CONF
docker-registry serve "$D/config.yml" > "$D/server.log" 2>&1 &
SERVER_PID=$!
wait_ready docker-registry "$PORT" "$D/server.log"
DIST_VERSION=$(docker-registry --version 2>/dev/null | awk '{print $NF}')
bench "distribution ${DIST_VERSION:-2.8}" "$PORT" "$WORK/distribution.json" "$WORK/distribution.md"
stop_server
rm -rf "$D/data"

# --- docs/BENCHMARKS.md ------------------------------------------------------------------------
DISK=$(dd if=/dev/zero of="$WORK/ddtest" bs=1M count=256 conv=fdatasync 2>&1 | tail -1 |
  sed -E 's/.*, ([0-9.]+ [kMG]B\/s)$/\1/' || echo "?")
rm -f "$WORK/ddtest"
MODEL=$(lscpu 2>/dev/null | grep 'Model name' | head -1 | sed -E 's/Model name:[[:space:]]*//')
{
  cat <<EOF
# Benchmarks

Generated by \`scripts/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')).
Reproduce with **\`scripts/bench.sh\`** (about 10 minutes; needs \`docker-registry\`, installed by
\`scripts/install-test-deps.sh\`).

**Machine:** $(nproc) CPUs (\`lscpu\` model name: ${MODEL:-unknown}), $(free -g | awk '/^Mem:/{print $2}') GiB RAM,
Linux $(uname -r); data directories on $(df -P "$WORK" | awk 'NR==2{print $1}') (sequential write with
fdatasync measured by \`dd\`: ${DISK}). The benchmark client and the server run on the **same
$(nproc) cores**: every CPU second the client spends (sending, receiving, hashing) is taken from
the server, so all figures are lower than on a dedicated server and client.

**What was run.** Each registry alone, freshly started on a loopback port with an empty data
directory on the same disk:
- Berth (release build) with its default configuration (SQLite metadata with
  \`synchronous=FULL\`, filesystem blob store, one worker per core, access log on) and only
  \`RUST_LOG=warn\` set, which keeps the info-level access lines out of the log;
- CNCF distribution ${DIST_VERSION:-2.8} (Debian's \`docker-registry\`), filesystem storage, log level warn, access
  log disabled, in-memory blob descriptor cache (as in Debian's packaged config).

**How.** \`berth-bench\` (crates/bench) speaks the /v2 API over HTTP/1.1 with one keep-alive
connection per client. Blob contents are pseudo-random (a seeded wyrand pool, sliced without
copies), every blob distinct; digests are computed before the timed part, as a real client knows
its layer digests before pushing. Pushes stream their bodies with a \`Content-Length\`:
*monolithic* is \`POST\` then \`PUT ?digest=\` with the whole blob, *chunked* is \`POST\`, one
\`PATCH\` per 8 MiB with \`Content-Range\`, and \`PUT ?digest=\`. Pulls stream and sha256-verify
every byte. Per client: 200 pushes of 1 MiB, 6 of 64 MiB (3 with 4 clients), 2 of 512 MiB (1 with
4 clients); 400 pulls of 1 MiB and 24 of 64 MiB (from sets of 64 and 8 blobs, warmed once).
\`sync\` runs before each measured scenario so one scenario's dirty pages are not flushed during
the next. Manifest GETs: 32 connections, each in a loop, 2 s warm-up then 10 s measured, docker's
Accept header. Server CPU is utime+stime of \`/proc/PID/stat\`; memory is VmRSS sampled every
50 ms and VmHWM of \`/proc/PID/status\`. MB = 10^6 bytes; CPU s/GB is CPU seconds per 10^9 bytes
moved.

**What bounds each figure** (read with the CPU columns):
- Large pushes (64 MiB, 512 MiB) are bounded by the disk (compare with the \`dd\` figure above)
  and by the server's CPU per byte (receive, sha256, write). Both registries fsync the blob data
  before acknowledging it (distribution's filesystem driver syncs every file it writes; Berth
  syncs the staging file, the blob's directory after the rename, and its SQLite commits).
  Berth starts writeback while the blob streams in, so its final fsync finds little left and a
  single push is bounded by the disk's write rate. Both registries are slower here than with
  their data on tmpfs, and the ratio moves with the disk's speed at the moment of the run (the
  README gives figures for both).
- 1 MiB pushes are bounded by per-blob work rather than bytes: two or three requests per blob
  (POST, PUT, for chunked a PATCH too), each with its metadata writes and fsyncs; on Berth's
  side mostly the latency of its three fsyncs.
- Pulls come from the page cache (the blobs were just written), so they are bounded by CPU: the
  server's work per byte and the client's receive and sha256 on the same two cores. The client
  CPU column shows how much of the machine the client itself used. distribution copies every
  byte through user space (page cache → its buffer → socket); Berth sends blob files with
  \`sendfile\`, so its server CPU per byte is a fraction of distribution's. With several clients
  the pull rate is about the two cores divided by server plus client CPU per GB; the client's
  share is the larger one against Berth. A single 64 MiB stream is bounded by the client's
  receive and sha256 against both servers.
- Manifest GETs are bounded by CPU on both sides; a client on separate cores would see higher
  req/s from both servers.

EOF
  "$BIN/berth-bench" report --berth "$WORK/berth.json" --reference "$WORK/distribution.json"
  if [ -f "$WORK/berth-prod.json" ]; then
    cat <<EOF

## Berth on PostgreSQL + S3 (Garage), against the same distribution run

Berth with \`BERTH_DATABASE__URL\` on the machine's PostgreSQL (a fresh database, default
settings, on the same disk) and \`storage.s3\` on a single-node Garage server on loopback
(\`data_fsync = false\`: Garage acknowledges writes from the page cache, unlike the
filesystem runs above, which fsync). Client, Berth, Garage and PostgreSQL share the 2 cores,
and every blob byte crosses loopback twice on push (client → Berth → Garage) and on pull
(Garage → Berth → client).

EOF
    "$BIN/berth-bench" report --berth "$WORK/berth-prod.json" --reference "$WORK/distribution.json"
  fi
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT" >&2
