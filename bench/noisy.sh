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

NAME=noisy.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools
need_wsgi_wasm

exec "${PYTHON:-python3}" "$BENCH/noisy.py" "$@"
