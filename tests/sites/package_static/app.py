"""Package-static fixture: answers whatever the package folders do not hold."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"app: {environ['SCRIPT_NAME']}{environ['PATH_INFO']}\n".encode()]
