#!/usr/bin/env bash
# Noisy-neighbour benchmark: site B (hello world) alone vs beside a site A running memory
# bombs and CPU loops, in one wsgi-wasm process. See the docstring of bench/noisy.py and
# bench/README.md.
#
#   bench/noisy.sh                      # release build, both layouts, 3 rounds x 10 s
#   bench/noisy.sh --layouts pinned     # any option of bench/noisy.py
#   WSGI_WASM_BIN=target/debug/wsgi-wasm bench/noisy.sh --rounds 1 --duration 3s
#
# This wrapper installs wrk, builds the release binary unless WSGI_WASM_BIN is set, then
# runs noisy.py (standard library only, like static.py; it reuses hello.py's helpers and
# runs noisy_load.py as site A's load generator).
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"

say() { echo "[bench] $*" >&2; }
die() { echo "bench/noisy.sh: $*" >&2; exit 1; }

for tool in taskset curl; do
    command -v "$tool" >/dev/null || die "\`$tool\` is required"
done

if ! command -v wrk >/dev/null; then
    say "installing wrk"
    if ! apt-get install -y wrk >/dev/null 2>&1; then
        apt-get update >/dev/null && apt-get install -y wrk >/dev/null \
            || die "could not install wrk (apt-get install -y wrk)"
    fi
fi

if [ -z "${WSGI_WASM_BIN:-}" ]; then
    say "building the release binary (cargo build --release -p wsgi-wasm)"
    (cd "$REPO" && cargo build --release -p wsgi-wasm) || die "release build failed"
    export WSGI_WASM_BIN="$REPO/target/release/wsgi-wasm"
fi
case "$WSGI_WASM_BIN" in /*) ;; *) WSGI_WASM_BIN="$PWD/$WSGI_WASM_BIN" ;; esac
export WSGI_WASM_BIN
[ -x "$WSGI_WASM_BIN" ] || die "WSGI_WASM_BIN=$WSGI_WASM_BIN is not an executable"

exec "${PYTHON:-python3}" "$BENCH/noisy.py" "$@"
