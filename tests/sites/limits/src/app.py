"""Integration-test fixture: each route uses up one resource or breaks one WSGI rule.

Routes by PATH_INFO; parameters come from the query string. Every request adds one to a
module-level counter, so a test can tell a reused instance (the count goes up) from a fresh
one (the count is 1 again).
"""

import json
import os
import socket
import sys
import time
from urllib.parse import parse_qs

COUNT = 0


def _json(start_response, data):
    body = json.dumps(data, sort_keys=True).encode()
    start_response("200 OK", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ])
    return [body]


def _failure(exc):
    """What a test needs to know about an exception the app caught."""
    return {"ok": False, "error": type(exc).__name__, "oserror": isinstance(exc, OSError)}


# Resources ------------------------------------------------------------------------------

def count(environ, start_response, params):
    return _json(start_response, {"count": COUNT, "run_once": environ["wsgi.run_once"]})


def alloc(environ, start_response, params):
    """Holds `mib` MiB in 8 MiB pieces: past the site's memory limit, MemoryError."""
    held = []
    while len(held) * 8 < int(params.get("mib", "8")):
        held.append(bytearray(8 * 1024 * 1024))
    return _json(start_response, {"count": COUNT, "mib": len(held) * 8})


def spin(environ, start_response, params):
    """Burns CPU for `ms` milliseconds, or forever without `ms`."""
    environ["wsgi.errors"].write("limits: spin started\n")
    if "ms" in params:
        end = time.monotonic() + int(params["ms"]) / 1000
        while time.monotonic() < end:
            pass
    else:
        while True:
            pass
    return _json(start_response, {"count": COUNT})


def sleep(environ, start_response, params):
    """Sleeps `s` seconds: wall-clock time without CPU time."""
    environ["wsgi.errors"].write("limits: sleep started\n")
    time.sleep(float(params.get("s", "0.1")))
    return _json(start_response, {"count": COUNT})


class _Deep:
    """An object whose repr asks for its own repr: each level nests C calls too."""

    def __repr__(self):
        return repr(self)


def recurse(environ, start_response, params):
    """Recursion without end, with Python's guard lifted: plain Python calls, or calls
    through C (`via=repr`), which grow the wasm stack at every level."""
    sys.setrecursionlimit(10**6)

    def down(depth):
        return down(depth + 1) + 1

    if params.get("via") == "repr":
        return _json(start_response, {"repr": repr(_Deep())})
    return _json(start_response, {"depth": down(0)})


# Capabilities ---------------------------------------------------------------------------

def fs(environ, start_response, params):
    """One file-system operation `op` on `path`; reports the exception type if it fails."""
    op, path = params["op"], params["path"]
    try:
        if op == "write":
            with open(path, "w") as f:
                f.write(params.get("text", ""))
            return _json(start_response, {"ok": True})
        if op == "read":
            with open(path) as f:
                return _json(start_response, {"ok": True, "text": f.read()})
        if op == "listdir":
            return _json(start_response, {"ok": True, "entries": sorted(os.listdir(path))})
        if op == "symlink":
            os.symlink(params["target"], path)
            return _json(start_response, {"ok": True})
        if op == "mkdir":
            os.mkdir(path)
            return _json(start_response, {"ok": True})
    except Exception as exc:
        return _json(start_response, _failure(exc))
    raise ValueError(f"unknown op {op!r}")


def connect(environ, start_response, params):
    """Opens a TCP connection to 127.0.0.1:`port`."""
    try:
        with socket.socket() as sock:
            sock.settimeout(5)
            sock.connect(("127.0.0.1", int(params["port"])))
        return _json(start_response, {"ok": True})
    except Exception as exc:
        return _json(start_response, _failure(exc))


# Broken apps ----------------------------------------------------------------------------

def status(environ, start_response, params):
    """Answers with the status line `status`."""
    start_response(params["status"], [("Content-Type", "text/plain")])
    return [b"status\n"]


def header(environ, start_response, params):
    """Answers with the header `name`: `value`."""
    start_response("200 OK", [("Content-Type", "text/plain"), (params["name"], params["value"])])
    return [b"header\n"]


def str_body(environ, start_response, params):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["text, not bytes\n"]


def start_twice(environ, start_response, params):
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"twice\n"]


def write_then_raise(environ, start_response, params):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"partial\n")
    raise RuntimeError("limits: raised after write")


def no_start_response(environ, start_response, params):
    return [b"never started\n"]


ROUTES = {
    "/count": count,
    "/alloc": alloc,
    "/spin": spin,
    "/sleep": sleep,
    "/recurse": recurse,
    "/fs": fs,
    "/connect": connect,
    "/status": status,
    "/header": header,
    "/str-body": str_body,
    "/start-twice": start_twice,
    "/write-then-raise": write_then_raise,
    "/no-start-response": no_start_response,
}


def application(environ, start_response):
    global COUNT
    COUNT += 1
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    params = {key: values[-1] for key, values in query.items()}
    view = ROUTES.get(environ.get("PATH_INFO", ""), count)
    return view(environ, start_response, params)
