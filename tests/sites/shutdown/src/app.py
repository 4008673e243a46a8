"""Integration-test fixture: requests held open until the test creates `gate/<name>`.

- `/slow?gate=NAME`: waits, then answers with a whole body (Content-Length);
- `/stream?gate=NAME`: sends its headers and a first chunk at once, waits, then streams the
  rest (no Content-Length: chunked on the wire);
- anything else: a short answer at once.

Each wait is announced on wsgi.errors (`shutdown: slow waiting for NAME`), so the test
knows the request is in flight before it signals the server.
"""

import os
import time
from urllib.parse import parse_qs

SLOW_BODY = b"slow body line\n" * 2000


def _wait(environ, what, name):
    environ["wsgi.errors"].write(f"shutdown: {what} waiting for {name}\n")
    environ["wsgi.errors"].flush()
    while not os.path.exists(os.path.join("/gate", name)):
        time.sleep(0.01)


def slow(environ, start_response, gate):
    _wait(environ, "slow", gate)
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(SLOW_BODY))),
    ])
    return [SLOW_BODY]


def stream(environ, start_response, gate):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def chunks():
        yield b"first\n"
        _wait(environ, "stream", gate)
        for i in range(200):
            yield b"chunk %d\n" % i
        yield b"last\n"

    return chunks()


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    gate = query.get("gate", ["open"])[0]
    path = environ.get("PATH_INFO", "")
    if path == "/slow":
        return slow(environ, start_response, gate)
    if path == "/stream":
        return stream(environ, start_response, gate)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]
