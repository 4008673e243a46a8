#!/usr/bin/env bash
# The benchmark suite: every scenario side by side in one run, written to
# bench/results/suite.json and bench/results/suite.png. See bench/README.md and the
# docstring of bench/suite.py.
#
#   bench/suite.sh                      # what counts: release build, 3 rounds x 10 s (~40 min)
#   bench/suite.sh --smoke              # every scenario once, tiny durations, temp outputs (CI)
#   bench/suite.sh --scenarios dynamic,latency --rounds 5    # any option of bench/suite.py
#
# This wrapper installs what the suite needs, then runs suite.py under the venv's python:
#   - apt: wrk, nginx-light;
#   - bench/.venv: granian and gunicorn (pinned, as hello.sh), waitress, uWSGI (built from
#     source by pip: gcc and the Python headers; if it does not build, the suite runs without
#     it and its JSON says why) and matplotlib for the chart;
#   - oha, the open-loop load generator of the latency scenario, from crates.io with
#     `cargo install` (into ~/.cargo/bin, so later clones find it; TLS through the system's
#     OpenSSL: libssl-dev; oha 1.16 does not build without a TLS feature);
#     (--smoke without oha installed: bench/openloop.py measures instead of compiling it);
#   - the release binary (cargo build --release -p wsgi-wasm) unless WSGI_WASM_BIN is set.
set -euo pipefail

NAME=suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WAITRESS_VERSION="${WAITRESS_VERSION:-3.0.2}"
UWSGI_VERSION="${UWSGI_VERSION:-2.0.31}"
MATPLOTLIB_VERSION="${MATPLOTLIB_VERSION:-3.11.2}"
OHA_VERSION="${OHA_VERSION:-1.16.0}"
unavailable=()

need_tools
need_nginx
need_peers

# pip_pin PACKAGE VERSION: installed into the venv unless that version is there.
pip_pin() {
    "$VENV/bin/python" - "$1" "$2" <<'PY' 2>/dev/null && return 0
import sys
from importlib.metadata import version
sys.exit(not version(sys.argv[1]) == sys.argv[2])
PY
    say "installing $1==$2 into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$1==$2" >"$BENCH/.state/pip-$1.log" 2>&1
}
mkdir -p "$BENCH/.state"
pip_pin waitress "$WAITRESS_VERSION" || die "pip install waitress==$WAITRESS_VERSION failed"
pip_pin matplotlib "$MATPLOTLIB_VERSION" || die "pip install matplotlib==$MATPLOTLIB_VERSION failed"
if ! pip_pin uWSGI "$UWSGI_VERSION"; then
    reason="pip install uWSGI==$UWSGI_VERSION failed (it builds from source): $(tail -n 3 "$BENCH/.state/pip-uWSGI.log" | tr '\n' ' ')"
    say "uWSGI: not available: $reason"
    unavailable+=(--unavailable "uwsgi=$reason")
fi

OHA_BIN="${OHA_BIN:-$(command -v oha || true)}"
smoke=false
for arg in "$@"; do [ "$arg" = "--smoke" ] && smoke=true; done
if $smoke && [ -z "$OHA_BIN" ]; then
    # The smoke only proves the scenarios run: bench/openloop.py stands in for oha rather
    # than compiling it (6-10 minutes on a fresh machine).
    say "oha is not installed: the smoke's latency runs use bench/openloop.py"
    OHA_BIN=none
elif [ -z "$OHA_BIN" ] || ! "$OHA_BIN" --version | grep -q "oha $OHA_VERSION"; then
    dpkg -s libssl-dev >/dev/null 2>&1 || install libssl-dev
    dpkg -s pkg-config >/dev/null 2>&1 || install pkg-config
    say "installing oha $OHA_VERSION (cargo install into ~/.cargo/bin, 6-10 minutes once)"
    cargo install oha --version "$OHA_VERSION" --locked --no-default-features --features native-tls \
        >"$BENCH/.state/oha-install.log" 2>&1 \
        || die "cargo install oha failed; see $BENCH/.state/oha-install.log"
    OHA_BIN="${CARGO_HOME:-$HOME/.cargo}/bin/oha"
fi
export OHA_BIN

need_wsgi_wasm

exec "$VENV/bin/python" "$BENCH/suite.py" "${unavailable[@]}" "$@"
