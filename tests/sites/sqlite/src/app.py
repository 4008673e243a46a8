"""Integration-test fixture: a plain WSGI app keeping a counter and rows in sqlite.

The database is `/data/app.db` (the site's writable `data` folder), opened per request with
sqlite's default rollback journal. `POST /add` is a read-modify-write (read the counter, do
some work, write counter + 1, insert a row): two of them running at once on two instances
lose an update, since sqlite has no file locks on WASI. Only the host's data lock keeps them
apart.

Every request of /add, /count and /rendezvous leaves a marker file in `/data/active` while it
runs; a request that finds another request's marker on entry appends a line to
`/data/overlaps.log` (`<self> saw <others>`, each named `<METHOD>-<random>`). The test reads
that file from the host: it shows which requests really ran at the same time.

Every request adds one to a module-level counter, reported as `served`: a fresh instance
starts again at 1.
"""

import json
import os
import sqlite3
import time

DB = "/data/app.db"
ACTIVE = "/data/active"
RENDEZVOUS = "/data/rendezvous"
OVERLAPS = "/data/overlaps.log"

SERVED = 0


def _json(start_response, data, status="200 OK"):
    body = json.dumps(data, sort_keys=True).encode()
    start_response(status, [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ])
    return [body]


def _db():
    conn = sqlite3.connect(DB, isolation_level=None)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1),"
        " n INTEGER NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, who TEXT NOT NULL,"
        " n INTEGER NOT NULL)"
    )
    conn.execute("INSERT OR IGNORE INTO counter (id, n) VALUES (1, 0)")
    return conn


def _busy_work():
    """Time between the read and the write, without sleeping (so the guest keeps its turn)."""
    return sum(i * i for i in range(20000))


class _Marker:
    """The request's marker in /data/active, for as long as the request runs."""

    def __init__(self, method):
        os.makedirs(ACTIVE, exist_ok=True)
        self.name = f"{method}-{os.urandom(8).hex()}"
        self.path = os.path.join(ACTIVE, self.name)

    def __enter__(self):
        open(self.path, "x").close()
        others = sorted(n for n in os.listdir(ACTIVE) if n != self.name)
        if others:
            with open(OVERLAPS, "a") as log:
                log.write(f"{self.name} saw {' '.join(others)}\n")
        return self

    def __exit__(self, *exc):
        os.remove(self.path)
        return False


def _body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length).decode() if length else ""


def add(environ, start_response):
    """Counter + 1 and one row, as a read-modify-write."""
    who = _body(environ) or "anonymous"
    with _Marker(environ["REQUEST_METHOD"]):
        conn = _db()
        try:
            conn.execute("BEGIN")
            (n,) = conn.execute("SELECT n FROM counter WHERE id = 1").fetchone()
            _busy_work()
            conn.execute("UPDATE counter SET n = ? WHERE id = 1", (n + 1,))
            conn.execute("INSERT INTO rows (who, n) VALUES (?, ?)", (who, n + 1))
            conn.execute("COMMIT")
        finally:
            conn.close()
    return _json(start_response, {"n": n + 1, "served": SERVED})


def count(environ, start_response):
    with _Marker(environ["REQUEST_METHOD"]):
        conn = _db()
        try:
            (n,) = conn.execute("SELECT n FROM counter WHERE id = 1").fetchone()
            rows, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT n) FROM rows"
            ).fetchone()
        finally:
            conn.close()
    return _json(start_response, {
        "counter": n, "rows": rows, "distinct": distinct, "served": SERVED,
    })


def check(environ, start_response):
    conn = _db()
    try:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
    finally:
        conn.close()
    return _json(start_response, {"integrity": integrity, "journal_mode": journal})


def fail(environ, start_response):
    """Raises inside a transaction, after writing; the app rolls back, as frameworks do."""
    conn = _db()
    try:
        conn.execute("BEGIN")
        conn.execute("UPDATE counter SET n = n + 1000 WHERE id = 1")
        conn.execute("INSERT INTO rows (who, n) VALUES ('fail', -1)")
        raise RuntimeError("sqlite: failed inside a transaction")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def slow(environ, start_response):
    """Writes inside a transaction, then sleeps `s` seconds before it commits: a request
    killed at its request_timeout leaves its rollback journal behind."""
    seconds = float(environ.get("QUERY_STRING", "").partition("s=")[2] or "1")
    conn = _db()
    try:
        conn.execute("BEGIN")
        conn.execute("UPDATE counter SET n = n + 1000 WHERE id = 1")
        conn.execute("INSERT INTO rows (who, n) VALUES ('slow', -1)")
        environ["wsgi.errors"].write("sqlite: slow started\n")
        environ["wsgi.errors"].flush()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return _json(start_response, {"slept": seconds})


def rendezvous(environ, start_response):
    """Waits (at most `s` seconds, 20 by default) until a second request has come to the
    rendezvous `group`; the files stay, so each group is met once."""
    params = dict(
        p.partition("=")[::2] for p in environ.get("QUERY_STRING", "").split("&") if p
    )
    seconds = float(params.get("s") or "20")
    group = os.path.join(RENDEZVOUS, params["group"])
    os.makedirs(group, exist_ok=True)
    with _Marker(environ["REQUEST_METHOD"]) as marker:
        met = _meet(group, marker.name, seconds)
    return _json(start_response, {"met": met})


def _meet(group, name, seconds):
    """Leaves `name` in the rendezvous folder `group` and waits (at most `seconds`) until a
    second request has left its own; True if one did."""
    open(os.path.join(group, name), "x").close()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(os.listdir(group)) >= 2:
            return True
        time.sleep(0.01)
    return False


def churn(environ, start_response):
    """Meets a second request at the rendezvous `group`, then `rounds` times: creates its own
    file in /data/churn, lists the folder, removes the file. Two of these at once list a
    folder whose entries another instance removes while the listing is read; every listing
    must still succeed. Reports how many listings saw the other request's file."""
    params = dict(
        p.partition("=")[::2] for p in environ.get("QUERY_STRING", "").split("&") if p
    )
    rounds = int(params.get("rounds") or "300")
    group = os.path.join(RENDEZVOUS, params["group"])
    folder = "/data/churn"
    os.makedirs(group, exist_ok=True)
    os.makedirs(folder, exist_ok=True)
    name = os.urandom(8).hex()
    met = _meet(group, name, 20)
    mine = os.path.join(folder, name)
    crowded = 0
    for _ in range(rounds):
        open(mine, "x").close()
        if len(os.listdir(folder)) > 1:
            crowded += 1
        os.remove(mine)
    return _json(start_response, {"met": met, "crowded": crowded})


def fileio(environ, start_response):
    """Writes /data/fileio.bin in 8 KiB pieces (fsync'd), appends to it, then reads it back
    in several ways; reports what each read saw, so the host's file streams are checked
    byte for byte."""
    import hashlib

    path = "/data/fileio.bin"
    piece = bytes(range(256)) * 32
    with open(path, "wb") as out:
        for i in range(25):
            out.write(piece[i:] + piece[:i])
        out.flush()
        os.fsync(out.fileno())
    with open(path, "ab") as out:
        out.write(b"tail")
    expected = b"".join(piece[i:] + piece[:i] for i in range(25)) + b"tail"
    with open(path, "rb") as inp:
        whole = inp.read()
    with open(path, "rb") as inp:
        chunks = []
        while chunk := inp.read(4096):
            chunks.append(chunk)
        at_end = inp.read(10)
        inp.seek(100_000)
        middle = inp.read(1000)
    with open(path, "rb", buffering=0) as raw:
        raw_read = raw.read(70_000)
    return _json(start_response, {
        "size": os.path.getsize(path),
        "expected": len(expected),
        "whole": whole == expected,
        "chunks": b"".join(chunks) == expected,
        "at_end": at_end.hex(),
        "middle": middle == expected[100_000:101_000],
        "raw_read": len(raw_read) > 0 and expected.startswith(raw_read),
        "sha256": hashlib.sha256(whole).hexdigest(),
        "expected_sha256": hashlib.sha256(expected).hexdigest(),
    })


ROUTES = {
    "/add": add,
    "/count": count,
    "/check": check,
    "/fail": fail,
    "/slow": slow,
    "/rendezvous": rendezvous,
    "/churn": churn,
    "/fileio": fileio,
}


def application(environ, start_response):
    global SERVED
    SERVED += 1
    view = ROUTES.get(environ.get("PATH_INFO", ""))
    if view is None:
        return _json(start_response, {"error": "no such route"}, "404 Not Found")
    return view(environ, start_response)
