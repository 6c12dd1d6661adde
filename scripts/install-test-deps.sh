#!/usr/bin/env bash
# Installs what the test suite needs on a Debian/Ubuntu machine, idempotently:
#   - OCI clients and helpers from Debian packages (skopeo, podman, buildah, umoci,
#     busybox-static, docker-registry for comparisons, jq, curl, PostgreSQL, and headless
#     Chromium with chromedriver for the web UI tests, OpenLDAP's slapd and ldap-utils for the
#     LDAP directory tests, which run a private slapd per test);
#   - a Python venv with oras-py (the oras client used by the tests);
#   - Garage (the S3 server of the S3 test runs), built once by cargo into the cache
#     ($BERTH_CACHE_DIR/bin/garage, ~10-13 min the first time, then reused).
# Already-present tools are not reinstalled. Needs root (or sudo) for apt.
set -euo pipefail

CACHE=${BERTH_CACHE_DIR:-$HOME/.cache/berth}
VENV=$CACHE/venv
APT_PACKAGES=(skopeo podman buildah umoci busybox-static docker-registry jq curl uidmap postgresql postgresql-client nginx openssl bc docker-compose chromium chromium-driver slapd ldap-utils)
GARAGE_VERSION=2.5.0

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
  # Without /usr/sbin/policy-rc.d, installing slapd starts the system slapd on port 389, where
  # it would collide with the Samba AD tests; the tests run their own. Stop it (by its own pid
  # file, never by name: a test's slapd may be running) and keep it from starting at boot.
  if [[ " ${missing[*]} " == *" slapd "* ]]; then
    as_root service slapd stop >/dev/null 2>&1 || true
    pid=$(cat /run/slapd/slapd.pid 2>/dev/null || true)
    if [ -n "$pid" ]; then as_root kill "$pid" 2>/dev/null || true; fi
    if [ -d /run/systemd/system ]; then as_root systemctl disable slapd >/dev/null 2>&1 || true; fi
  fi
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import oras' 2>/dev/null; then
  echo "creating Python venv with oras in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check 'oras==0.2.43'
fi
if [ ! -x "$CACHE/bin/garage" ] || ! "$CACHE/bin/garage" --version 2>/dev/null | grep -qE "[v:]$GARAGE_VERSION\b"; then
  echo "building garage $GARAGE_VERSION into $CACHE/bin (first run only, ~10-13 min)"
  # Its own target dir, so the project's cache is not disturbed; removed afterwards.
  CARGO_TARGET_DIR=$CACHE/garage-build cargo install --locked --quiet --root "$CACHE" \
    --version "$GARAGE_VERSION" garage
  rm -rf "$CACHE/garage-build"
fi
echo "test dependencies ready (tools venv: $VENV)"
