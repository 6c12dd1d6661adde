#!/usr/bin/env bash
# The crate ladder, checked with `cargo tree` (docs/ARCHITECTURE.md draws it):
#   - berth-core depends on no I/O crate (async runtime, database, HTTP, cloud);
#   - the services and adapters (core, meta, storage, directory, content, auth) depend on no
#     actix crate: no HTTP below the edges;
#   - the directory adapter (berth-directory) knows LDAP only: no Berth crate below it;
#   - an edge (registry = /v2, api = /api/v1 and the token routes, ui = the web UI) never
#     depends on another edge
#     or on the gateway, and the management API reaches the metadata store only through the
#     services (berth-meta is not among its direct dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
deps() { cargo tree -p "$1" -e normal --prefix none "${@:2}" | awk '{print $1}' | sort -u; }

if deps berth-core | grep -E '^(tokio|sqlx|actix.*|aws.*|reqwest|hyper)$'; then
  echo "layers: berth-core must not depend on an I/O crate (above)" >&2
  fail=1
fi
if deps berth-directory | grep -E '^berth-' | grep -vx berth-directory; then
  echo "layers: berth-directory is an adapter and must not depend on another Berth crate (above)" >&2
  fail=1
fi
for svc in berth-core berth-meta berth-storage berth-directory berth-content berth-auth; do
  if deps "$svc" | grep -E '^actix'; then
    echo "layers: $svc is a service and must not depend on actix (above)" >&2
    fail=1
  fi
done
edges=(berth-registry berth-api berth-ui)
for edge in "${edges[@]}"; do
  for other in "${edges[@]}" berth-gateway; do
    [ "$other" = "$edge" ] && continue
    if deps "$edge" | grep -qx "$other"; then
      echo "layers: edge $edge must not depend on $other" >&2
      fail=1
    fi
  done
done
for edge in berth-registry berth-api berth-ui; do
  if deps "$edge" --depth 1 | grep -qx berth-directory; then
    echo "layers: $edge must reach the directory through the identity service, not depend on berth-directory" >&2
    fail=1
  fi
done
for edge in berth-api berth-ui; do
  if deps "$edge" --depth 1 | grep -qx berth-meta; then
    echo "layers: $edge must reach the metadata store through the services, not depend on berth-meta" >&2
    fail=1
  fi
done
[ $fail = 0 ] && echo "layers: ok"
exit $fail
