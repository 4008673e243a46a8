import wsgi_wasm_no_such_package_for_tests  # never reached: the build stops at vendoring


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable\n"]
