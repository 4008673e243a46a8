"""Integration-test fixture: each route exercises one part of the WSGI bridge."""

import hashlib
import json
import os
import sys
import time
from urllib.parse import parse_qs


def _json(start_response, data, status="200 OK"):
    body = json.dumps(data, sort_keys=True).encode()
    start_response(status, [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ])
    return [body]


def environ_view(environ, start_response):
    shown = {
        key: value
        for key, value in environ.items()
        if isinstance(value, (str, int, bool))
    }
    shown["wsgi.version"] = list(environ["wsgi.version"])
    shown["os_environ"] = dict(os.environ)
    return _json(start_response, shown)


def upload(environ, start_response):
    """Reads the body in uneven pieces, mixing read(n) and readline()."""
    stream = environ["wsgi.input"]
    digest = hashlib.sha256()
    length = 0
    sizes = (1, 7, 4096, 65536, 100_000, 3)
    turn = 0
    while True:
        if turn % 3 == 2:
            piece = stream.readline()
        else:
            piece = stream.read(sizes[turn % len(sizes)])
        if not piece:
            break
        digest.update(piece)
        length += len(piece)
        turn += 1
    return _json(start_response, {"length": length, "sha256": digest.hexdigest()})


def stream(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    chunks = int(query.get("chunks", ["10"])[0])
    size = int(query.get("size", ["1024"])[0])
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return (bytes([65 + i % 26]) * size for i in range(chunks))


def slow_stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    errors = environ["wsgi.errors"]

    def body():
        yield b"first\n"
        time.sleep(2)
        errors.write("slow-stream: released\n")
        yield b"last\n"

    return body()


def write_view(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"one\n")
    write(b"two\n")
    return [b"three\n"]


def raise_view(environ, start_response):
    raise RuntimeError("boom from echo")


def lazy(environ, start_response):
    watched = ("lazy_helper", "colorsys", "encodings.idna")
    before = {name: name in sys.modules for name in watched}
    import codecs
    import colorsys

    import lazy_helper

    return _json(start_response, {
        "already_imported": before,
        "helper": lazy_helper.ANSWER,
        "codec": codecs.lookup("idna").name,
        "idna": "bücher.example".encode("idna").decode("ascii"),
        "colorsys": colorsys.rgb_to_hsv(1.0, 0.0, 0.0)[0],
    })


class _Closing:
    """A body whose close() leaves a trace in the site log."""

    def __init__(self, errors):
        self._errors = errors

    def __iter__(self):
        yield b"closing body\n"

    def close(self):
        self._errors.write("echo: close called\n")


def close_view(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return _Closing(environ["wsgi.errors"])


ROUTES = {
    "/upload": upload,
    "/stream": stream,
    "/slow-stream": slow_stream,
    "/write": write_view,
    "/raise": raise_view,
    "/lazy": lazy,
    "/close": close_view,
}


def application(environ, start_response):
    view = ROUTES.get(environ.get("PATH_INFO", ""), environ_view)
    return view(environ, start_response)
