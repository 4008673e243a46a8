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

NAME=static.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools
need_nginx

need_wsgi_wasm

exec "${PYTHON:-python3}" "$BENCH/static.py" "$@"
