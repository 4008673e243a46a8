"""Integration-test fixture: fills the scratch /tmp or the data folder until the host says
the quota is reached, and answers what happened (JSON), whatever Python raised.

Routes by PATH_INFO; parameters come from the query string:
- /write?dir=/tmp&name=f&chunk=65536&max=N: writes `chunk`-byte pieces to dir/name until
  an OSError or `max` bytes (`how`: write, pwrite or truncate); answers the bytes written
  and the error's name (ENOSPC, EIO).
- /files?dir=/data&prefix=f&max=N: creates empty files dir/prefix0, 1, … until an OSError
  or `max`; answers the count and the error's name.
- /mkdir?dir=/data&name=d: makes a folder; answers ok or the error's name.
- /remove?dir=/tmp: removes every file and folder in dir; answers how many.
- /hello: answers hello.
"""

import errno
import json
import os
from urllib.parse import parse_qs


def _json(start_response, data):
    body = json.dumps(data, sort_keys=True).encode()
    start_response("200 OK", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ])
    return [body]


def _error(e):
    """The guest's name of an OSError's errno (WASI numbers errnos its own way)."""
    return errno.errorcode.get(e.errno, str(e.errno))


def write(params):
    """Grows dir/name by `chunk` bytes at a time until an OSError or `max` bytes, with
    `how`: `write` (a file object: the guest's write(), a host output stream), `pwrite`
    (os.pwrite: the host's descriptor write) or `truncate` (os.ftruncate to a larger size).
    """
    path = os.path.join(params.get("dir", "/tmp"), params.get("name", "fill"))
    size = int(params.get("chunk", "65536"))
    chunk = b"x" * size
    limit = int(params.get("max", str(1 << 40)))
    how = params.get("how", "write")
    written = 0
    error = None
    try:
        if how == "write":
            with open(path, "wb") as f:
                while written < limit:
                    f.write(chunk)
                    # Every piece is a host write.
                    f.flush()
                    written += size
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                while written < limit:
                    if how == "pwrite":
                        os.pwrite(fd, chunk, written)
                    else:
                        os.ftruncate(fd, written + size)
                    written += size
            finally:
                os.close(fd)
    except OSError as e:
        error = _error(e)
    size = os.path.getsize(path) if os.path.exists(path) else None
    return {"written": written, "error": error, "size": size}


def files(params):
    folder = params.get("dir", "/data")
    prefix = params.get("prefix", "f")
    limit = int(params.get("max", "1000000"))
    created = 0
    error = None
    try:
        while created < limit:
            with open(os.path.join(folder, f"{prefix}{created}"), "x"):
                pass
            created += 1
    except OSError as e:
        error = _error(e)
    return {"created": created, "error": error, "listed": len(os.listdir(folder))}


def mkdir(params):
    try:
        os.mkdir(os.path.join(params.get("dir", "/data"), params.get("name", "d")))
        return {"ok": True, "error": None}
    except OSError as e:
        return {"ok": False, "error": _error(e)}


def remove(params):
    folder = params.get("dir", "/tmp")
    removed = 0
    for root, dirs, names in os.walk(folder, topdown=False):
        for name in names:
            os.unlink(os.path.join(root, name))
            removed += 1
        for name in dirs:
            os.rmdir(os.path.join(root, name))
            removed += 1
    return {"removed": removed}


ROUTES = {
    "/write": write,
    "/files": files,
    "/mkdir": mkdir,
    "/remove": remove,
    "/hello": lambda params: {"hello": True},
}


def application(environ, start_response):
    params = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    route = ROUTES.get(environ.get("PATH_INFO", "/"))
    if route is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such route\n"]
    return _json(start_response, route(params))
