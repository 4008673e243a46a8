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

NAME=hello.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools
VENV="$BENCH/.venv"
GRANIAN_VERSION="${GRANIAN_VERSION:-2.8.7}"
GUNICORN_VERSION="${GUNICORN_VERSION:-27.0.1}"

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

need_wsgi_wasm

exec "$VENV/bin/python" "$BENCH/hello.py" "$@"
