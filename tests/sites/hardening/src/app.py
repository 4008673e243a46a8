"""Integration-test fixture: answers any request with its environ's strings and the length
of the body it read (the body is read by CONTENT_LENGTH, as many frameworks do)."""

import json


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    shown = {key: value for key, value in environ.items() if isinstance(value, str)}
    shown["body_length"] = len(body)
    data = json.dumps(shown, sort_keys=True).encode()
    start_response("200 OK", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
    ])
    return [data]
