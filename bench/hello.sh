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
need_peers
need_wsgi_wasm

exec "$VENV/bin/python" "$BENCH/hello.py" "$@"
