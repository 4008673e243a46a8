"""The app of bench/suite.py: the very same file for wsgi-wasm and every native peer.

    /        200 "Hello, World!\\n" (the dynamic hello world)
    /10k     200, 10 KiB of text (a 10 KiB response)
    /sleep   200 "slept\\n" after sleeping ?s= seconds (default 1): holds one worker or one
             instance, so that N requests in flight mean N live instances (memory scenario)

bench/suite.py writes the site.toml of each wsgi-wasm site it serves this from (the file
sits in the site's `src/` folder, its python_path, so that the build cache key does not
change with the limits the scenarios set).
"""

import time
from urllib.parse import parse_qs

HELLO = b"Hello, World!\n"
# Numbered lines of text, cut at exactly 10240 bytes.
TEN_K = b"".join(b"%03d wsgi-wasm suite: ten kibibytes of response body\n" % i
                 for i in range(250))[:10240]
SLEPT = b"slept\n"


def _answer(start_response, body):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/10k":
        return _answer(start_response, TEN_K)
    if path == "/sleep":
        seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["1"])[0])
        time.sleep(min(seconds, 30.0))
        return _answer(start_response, SLEPT)
    if path == "/":
        return _answer(start_response, HELLO)
    body = b"not found\n"
    start_response("404 Not Found", [("Content-Type", "text/plain"),
                                     ("Content-Length", str(len(body)))])
    return [body]
