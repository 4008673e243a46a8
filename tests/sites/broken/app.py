"""Test fixture: importing this module fails, as a site with a missing dependency would."""

import module_that_does_not_exist  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable\n"]
