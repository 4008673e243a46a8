# Shared set-up for the benchmark wrappers (sourced, not run): paths, messages, the tools
# every benchmark needs, Debian packages on demand, and the wsgi-wasm binary to measure.
# The sourcing script sets NAME (for messages) first.

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"

say() { echo "[bench] $*" >&2; }
die() { echo "bench/$NAME: $*" >&2; exit 1; }

# install PACKAGE: apt-get, with an update first only if needed.
install() {
    say "installing $1"
    if ! apt-get install -y "$1" >/dev/null 2>&1; then
        apt-get update >/dev/null && apt-get install -y "$1" >/dev/null \
            || die "could not install $1 (apt-get install -y $1)"
    fi
}

# Checks taskset and curl, installs wrk if missing.
need_tools() {
    for tool in taskset curl; do
        command -v "$tool" >/dev/null || die "\`$tool\` is required"
    done
    command -v wrk >/dev/null || install wrk
}

# Exports WSGI_WASM_BIN: as given (made absolute), or a fresh release build.
need_wsgi_wasm() {
    if [ -z "${WSGI_WASM_BIN:-}" ]; then
        say "building the release binary (cargo build --release -p wsgi-wasm)"
        (cd "$REPO" && cargo build --release -p wsgi-wasm) || die "release build failed"
        WSGI_WASM_BIN="$REPO/target/release/wsgi-wasm"
    fi
    case "$WSGI_WASM_BIN" in /*) ;; *) WSGI_WASM_BIN="$PWD/$WSGI_WASM_BIN" ;; esac
    export WSGI_WASM_BIN
    [ -x "$WSGI_WASM_BIN" ] || die "WSGI_WASM_BIN=$WSGI_WASM_BIN is not an executable"
}

# Exports VENV: bench/.venv with the peers pip-installed, pinned: granian==$GRANIAN_VERSION
# and gunicorn==$GUNICORN_VERSION (defaults below), made with $PYTHON (python3).
need_peers() {
    VENV="$BENCH/.venv"
    GRANIAN_VERSION="${GRANIAN_VERSION:-2.8.7}"
    GUNICORN_VERSION="${GUNICORN_VERSION:-27.0.1}"
    local python="${PYTHON:-python3}"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        "$python" -m venv "$VENV" || die "could not create a venv with $python"
    fi
    if ! "$VENV/bin/python" - "$GRANIAN_VERSION" "$GUNICORN_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(not (version("granian") == sys.argv[1] and version("gunicorn") == sys.argv[2]))
PY
    then
        say "installing granian==$GRANIAN_VERSION gunicorn==$GUNICORN_VERSION into $VENV"
        "$VENV/bin/pip" install -q "granian==$GRANIAN_VERSION" "gunicorn==$GUNICORN_VERSION" \
            || die "pip install of the peers failed"
    fi
    export VENV
}

# Exports NGINX_BIN: $NGINX_BIN, nginx on PATH, /usr/sbin/nginx, or nginx-light installed.
# (The package starts a system nginx on port 80; the benchmarks run their own.)
need_nginx() {
    NGINX_BIN="${NGINX_BIN:-$(command -v nginx || true)}"
    [ -z "$NGINX_BIN" ] && [ -x /usr/sbin/nginx ] && NGINX_BIN=/usr/sbin/nginx
    if [ -z "$NGINX_BIN" ]; then
        install nginx-light
        NGINX_BIN=/usr/sbin/nginx
    fi
    export NGINX_BIN
}
