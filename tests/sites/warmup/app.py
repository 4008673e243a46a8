"""Warmup fixture: reports which lazily imported modules are loaded, and what the warmup saw."""

import json
import sys

# What each request marked `wsgi_wasm.warmup` looked like (filled at build time only).
WARMUP_REQUESTS = []


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if environ.get("wsgi_wasm.warmup"):
        environ["wsgi.errors"].write("warmup request seen\n")
        WARMUP_REQUESTS.append({
            key: environ.get(key)
            for key in (
                "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
                "SERVER_PORT", "SERVER_PROTOCOL", "HTTP_HOST", "SITE_TIER", "wsgi.url_scheme",
                "wsgi.input_terminated", "wsgi.multithread", "wsgi.run_once",
            )
        } | {"body": environ["wsgi.input"].read().decode()})
    if path == "/warm":
        import warm_lazy  # noqa: F401  only this view imports it
        body = b"warm\n"
    elif path == "/cold":
        import cold_lazy  # noqa: F401  never requested by the warmup
        body = b"cold\n"
    elif path == "/status":
        body = json.dumps({
            "warm_lazy": "warm_lazy" in sys.modules,
            "cold_lazy": "cold_lazy" in sys.modules,
            "warmup_requests": WARMUP_REQUESTS,
        }).encode()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
