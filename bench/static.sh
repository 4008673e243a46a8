#!/usr/bin/env bash
# Static-file benchmark: wsgi-wasm vs nginx (1 KiB and 1 MiB files), in
# requests per server CPU-second. See the docstring of bench/static.py.
#
#   bench/static.sh                     # release build, 3 rounds x 10 s
#   bench/static.sh --files 1k          # any option of bench/static.py
#   WSGI_WASM_BIN=target/debug/wsgi-wasm bench/static.sh --rounds 1 --duration 3s
#
# This wrapper installs what the benchmark needs (wrk, nginx-light), builds the
# release binary unless WSGI_WASM_BIN is set, then runs static.py (which
# reuses hello.py's server handling, CPU accounting and wrk driver; no venv is
# needed: both use the standard library only).
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"

say() { echo "[bench] $*" >&2; }
die() { echo "bench/static.sh: $*" >&2; exit 1; }

for tool in taskset curl; do
    command -v "$tool" >/dev/null || die "\`$tool\` is required"
done

install() {  # install PACKAGE: apt-get, with an update first only if needed
    say "installing $1"
    if ! apt-get install -y "$1" >/dev/null 2>&1; then
        apt-get update >/dev/null && apt-get install -y "$1" >/dev/null \
            || die "could not install $1 (apt-get install -y $1)"
    fi
}
command -v wrk >/dev/null || install wrk
NGINX_BIN="${NGINX_BIN:-$(command -v nginx || true)}"
[ -z "$NGINX_BIN" ] && [ -x /usr/sbin/nginx ] && NGINX_BIN=/usr/sbin/nginx
if [ -z "$NGINX_BIN" ]; then
    install nginx-light
    NGINX_BIN=/usr/sbin/nginx
fi
export NGINX_BIN
# The package starts a system nginx on port 80; the benchmark runs its own.

if [ -z "${WSGI_WASM_BIN:-}" ]; then
    say "building the release binary (cargo build --release -p wsgi-wasm)"
    (cd "$REPO" && cargo build --release -p wsgi-wasm) || die "release build failed"
    export WSGI_WASM_BIN="$REPO/target/release/wsgi-wasm"
fi
case "$WSGI_WASM_BIN" in /*) ;; *) WSGI_WASM_BIN="$PWD/$WSGI_WASM_BIN" ;; esac
export WSGI_WASM_BIN
[ -x "$WSGI_WASM_BIN" ] || die "WSGI_WASM_BIN=$WSGI_WASM_BIN is not an executable"

exec "${PYTHON:-python3}" "$BENCH/static.py" "$@"
