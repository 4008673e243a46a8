#!/usr/bin/env bash
# Framework benchmark: a Flask page and a Django page served by wsgi-wasm and, natively, by
# gunicorn (gthread) and Granian, in requests per server CPU-second, plus each server's time
# from start to first response. See the docstring of bench/frameworks.py and bench/README.md.
#
#   bench/frameworks.sh                 # release build, 3 rounds x 10 s per page and server
#   bench/frameworks.sh --pages flask   # any option of bench/frameworks.py
#   WSGI_WASM_BIN=target/debug/wsgi-wasm bench/frameworks.sh --rounds 1 --duration 3s
#
# This wrapper installs wrk and the venv with the peers (as hello.sh does), builds the release
# binary unless WSGI_WASM_BIN is set, then runs frameworks.py under the venv's python. That
# script pip-installs into the venv the versions of the sites' requirements that wsgi-wasm
# vendored, so the native peers run the same app code on the same packages.
set -euo pipefail

NAME=frameworks.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools
need_peers
need_wsgi_wasm

exec "$VENV/bin/python" "$BENCH/frameworks.py" "$@"
