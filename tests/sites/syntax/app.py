"""Test fixture: this module does not compile."""


def application(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable\n"]
