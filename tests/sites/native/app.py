"""Native fixture: imports a package that exists only as a C extension."""

import ujson


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [ujson.dumps({"unreachable": True}).encode()]
