"""Integration-test fixture: answers any request with its environ's strings and the length
of the body it read (by CONTENT_LENGTH when there is one, else to the end of a terminated
input, as Werkzeug and Django do)."""

import json


def application(environ, start_response):
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = environ["wsgi.input"].read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = environ["wsgi.input"].read()
    else:
        body = b""
    shown = {key: value for key, value in environ.items() if isinstance(value, str)}
    shown["body_length"] = len(body)
    data = json.dumps(shown, sort_keys=True).encode()
    start_response("200 OK", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
    ])
    return [data]
