#!/usr/bin/env bash
# Hello-world benchmark: wsgi-wasm vs Granian vs gunicorn (gthread), in
# requests per server CPU-second. See bench/README.md.
#
#   bench/hello.sh                      # release build, 3 rounds x 10 s
#   bench/hello.sh --rounds 5           # any option of bench/hello.py
#   WSGI_WASM_BIN=target/debug/wsgi-wasm bench/hello.sh --rounds 1 --duration 3s
#
# This wrapper installs what the benchmark needs (wrk, a venv with the peers),
# builds the release binary unless WSGI_WASM_BIN is set, then runs hello.py.
# hello.py owns the servers and kills them on exit (atexit + signal handlers).
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
VENV="$BENCH/.venv"
GRANIAN_VERSION="${GRANIAN_VERSION:-2.8.7}"
GUNICORN_VERSION="${GUNICORN_VERSION:-27.0.1}"

say() { echo "[bench] $*" >&2; }
die() { echo "bench/hello.sh: $*" >&2; exit 1; }

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

PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON"
fi
if ! "$VENV/bin/python" - "$GRANIAN_VERSION" "$GUNICORN_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(not (version("granian") == sys.argv[1] and version("gunicorn") == sys.argv[2]))
EOF
then
    say "installing granian==$GRANIAN_VERSION gunicorn==$GUNICORN_VERSION into $VENV"
    "$VENV/bin/pip" install -q "granian==$GRANIAN_VERSION" "gunicorn==$GUNICORN_VERSION" \
        || die "pip install of the peers failed"
fi

if [ -z "${WSGI_WASM_BIN:-}" ]; then
    say "building the release binary (cargo build --release -p wsgi-wasm)"
    (cd "$REPO" && cargo build --release -p wsgi-wasm) || die "release build failed"
    export WSGI_WASM_BIN="$REPO/target/release/wsgi-wasm"
fi
case "$WSGI_WASM_BIN" in /*) ;; *) WSGI_WASM_BIN="$PWD/$WSGI_WASM_BIN" ;; esac
export WSGI_WASM_BIN
[ -x "$WSGI_WASM_BIN" ] || die "WSGI_WASM_BIN=$WSGI_WASM_BIN is not an executable"

exec "$VENV/bin/python" "$BENCH/hello.py" "$@"
