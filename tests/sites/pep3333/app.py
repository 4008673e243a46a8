"""PEP 3333 corners, one route each; `/v/...` routes run wrapped in wsgiref.validate.

Every warning is an error here, so a validator warning fails the request (500, traceback in
the log) like a validator assertion does.
"""

import io
import json
import os
import sys
import time
import warnings
from wsgiref.validate import validator

warnings.simplefilter("error")

HERE = os.path.dirname(os.path.abspath(__file__))


def _json(start_response, data, status="200 OK"):
    body = json.dumps(data).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _query(environ):
    pairs = (item.partition("=") for item in environ.get("QUERY_STRING", "").split("&") if item)
    return {key: value for key, _, value in pairs}


# --- wsgi.input ----------------------------------------------------------------------------

def input_view(environ, start_response):
    """Reads the body the way `?mode=` says and reports what each call returned."""
    stream = environ["wsgi.input"]
    mode = _query(environ).get("mode", "read")
    calls = []
    if mode == "read":
        calls.append(stream.read())
    elif mode == "read-1":
        calls.append(stream.read(-1))
    elif mode == "read-none":
        calls.append(stream.read(None))
    elif mode == "read-n":
        while True:
            piece = stream.read(7)
            calls.append(piece)
            if not piece:
                break
    elif mode == "readline":
        while True:
            line = stream.readline()
            calls.append(line)
            if not line:
                break
    elif mode == "readline-n":
        while True:
            line = stream.readline(4)
            calls.append(line)
            if not line:
                break
    elif mode == "readlines":
        calls.extend(stream.readlines())
    elif mode == "iter":
        calls.extend(stream)
    calls.append(stream.read(10))  # past the end
    calls.append(stream.readline())
    return _json(start_response, {
        "mode": mode,
        "calls": [c.decode("latin-1") for c in calls],
        "content_length": environ.get("CONTENT_LENGTH"),
        "input_terminated": environ["wsgi.input_terminated"],
    })


def continue_view(environ, start_response):
    body = environ["wsgi.input"].read()
    return _json(start_response, {"length": len(body)})


def no_read_view(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the body was not read\n"]


# --- Content-Length mismatches ------------------------------------------------------------

def length_view(environ, start_response):
    """`?declared=N&parts=a,b,c` sends parts of those sizes under Content-Length N."""
    query = _query(environ)
    declared = query["declared"]
    sizes = [int(n) for n in query["parts"].split(",")]
    parts = [bytes([65 + i % 26]) * size for i, size in enumerate(sizes)]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", declared)])
    if query.get("how") == "stream":
        return iter(parts)
    return parts


def length_write_view(environ, start_response):
    query = _query(environ)
    write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", query["declared"])])
    for i, size in enumerate(int(n) for n in query["parts"].split(",")):
        write(bytes([97 + i % 26]) * size)
    return []


# --- wsgi.file_wrapper --------------------------------------------------------------------

class NoPythonRead(io.FileIO):
    """A real file that refuses to be read by Python: only the host can have sent it."""

    def read(self, *args):
        raise AssertionError("the file's bytes went through Python")

    readinto = read


def file_view(environ, start_response):
    query = _query(environ)
    which = query.get("which", "data")
    if which == "data":
        path = "/data/" + query.get("name", "big.bin")
    elif which == "site":
        path = os.path.join(HERE, "files", "hello.txt")
    elif which == "stdlib":
        # The guest's standard library, mounted at /python: readable, but not the site's.
        path = "/python/" + min(n for n in os.listdir("/python") if n.endswith(".py"))
    else:
        raise ValueError(which)
    if query.get("python") == "1":
        filelike = open(path, "rb")
    elif query.get("python") == "bytesio":
        with open(path, "rb") as source:
            filelike = io.BytesIO(source.read())
    else:
        filelike = NoPythonRead(path, "rb")
    offset = int(query.get("offset", "0"))
    if offset:
        filelike.seek(offset)
    headers = [("Content-Type", "application/octet-stream")]
    if "length" in query:
        headers.append(("Content-Length", query["length"]))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](filelike, 32 * 1024)


# --- close() ------------------------------------------------------------------------------

class Endless:
    """A slow, endless body; its close() leaves one log line per call."""

    def __init__(self, errors, tag):
        self.errors = errors
        self.tag = tag

    def __iter__(self):
        chunk = b"x" * 16384
        while True:
            time.sleep(0.002)
            yield chunk

    def close(self):
        self.errors.write(f"pep3333: close called for {self.tag}\n")
        self.errors.flush()


def endless_view(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Endless(environ["wsgi.errors"], _query(environ).get("tag", "?"))


# --- /tmp ---------------------------------------------------------------------------------

def tmp_view(environ, start_response):
    """`?op=spool` round-trips 1 MiB through tempfile; `write`/`exists` a fixed name."""
    import tempfile

    op = _query(environ).get("op")
    if op == "spool":
        with tempfile.TemporaryFile() as spool:
            spool.write(b"z" * (1 << 20))
            spool.seek(0)
            size = len(spool.read())
        return _json(start_response, {"size": size, "dir": tempfile.gettempdir()})
    if op == "write":
        with open("/tmp/pep3333-marker", "w") as marker:
            marker.write(environ["SERVER_NAME"])
    return _json(start_response, {"exists": os.path.exists("/tmp/pep3333-marker")})


# --- apps under wsgiref.validate ----------------------------------------------------------

def v_list(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"list ", b"body\n"]


def v_generator(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(3):
        yield b"part %d\n" % i


def v_write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"then ", b"returned\n"]


def v_input(environ, start_response):
    stream = environ["wsgi.input"]
    first = stream.readline()
    second = stream.readline(3)
    rest = stream.readlines()
    after = stream.read(5)
    body = repr((first, second, rest, after)).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def v_input_iter(environ, start_response):
    lines = [line for line in environ["wsgi.input"]]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d lines, %d bytes" % (len(lines), sum(map(len, lines)))]


def v_errors(environ, start_response):
    errors = environ["wsgi.errors"]
    errors.write("pep3333: validated error stream\n")
    errors.writelines(["pep3333: ", "two lines\n"])
    errors.flush()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"logged\n"]


def v_exc_info(environ, start_response):
    try:
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise ValueError("deliberate, before any body")
    except ValueError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced by the error page of the app\n"]


def v_file(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](open(os.path.join(HERE, "files", "hello.txt"), "rb"))


def v_empty(environ, start_response):
    start_response("204 No Content", [])
    return []


def v_environ(environ, start_response):
    keys = sorted(k for k in environ if k.startswith("wsgi."))
    return _json(start_response, {
        "keys": keys,
        "script_name": environ["SCRIPT_NAME"],
        "path_info": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"],
    })


VALIDATED = {
    "/v/list": v_list,
    "/v/generator": v_generator,
    "/v/write": v_write,
    "/v/input": v_input,
    "/v/input-iter": v_input_iter,
    "/v/errors": v_errors,
    "/v/exc-info": v_exc_info,
    "/v/file": v_file,
    "/v/empty": v_empty,
    "/v/environ": v_environ,
}
VALIDATED = {path: validator(app) for path, app in VALIDATED.items()}

ROUTES = {
    "/input": input_view,
    "/continue": continue_view,
    "/no-read": no_read_view,
    "/length": length_view,
    "/length-write": length_write_view,
    "/file": file_view,
    "/endless": endless_view,
    "/tmp": tmp_view,
}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    view = VALIDATED.get(path) or ROUTES.get(path)
    if view is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such route\n"]
    return view(environ, start_response)
