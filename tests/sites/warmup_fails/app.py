"""Warmup failure fixture: `/` answers, `/boom` raises, `/unavailable` answers 503."""


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/boom":
        return 1 // 0
    if path == "/unavailable":
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"database is down\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine\n"]
