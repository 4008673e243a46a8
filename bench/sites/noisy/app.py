"""The noisy neighbour (site A of bench/noisy.py).

    /       200 "noisy\\n" (the benchmark checks the routing with it)
    /bomb   allocates 1 MiB pieces until MemoryError, which is left to propagate: the
            server answers 500 and discards the instance
    /spin   a CPU loop without end: the server stops it at the site's cpu_time and answers 504
"""

BODY = b"noisy\n"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/bomb":
        held = []
        while True:
            held.append(bytearray(1024 * 1024))  # zero-filled: every page is touched
    if path == "/spin":
        n = 0
        while True:
            n += 1
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]
