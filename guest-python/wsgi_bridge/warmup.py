"""Build time, after the app is loaded: requests the site's `warmup` URLs inside the guest.

componentize-py snapshots the interpreter once `wsgi_bridge` is imported, so whatever these
requests import or cache (a framework's URLconf, views, templates, codecs) is already done
when the first real request arrives. The host is not there at build time (calling
`wit_world.imports.host` would fail), so each request gets its own PEP 3333 environ: a GET
for the URL with the site's first server name, an empty `wsgi.input`, `wsgi.errors` on
stderr (shown with the build's output when it fails), the site's `vars`, and
`wsgi_wasm.warmup = True` so an app can tell. The body is read and dropped, and `close()`
is called, as for a real request.

A URL that raises, or answers 5xx, fails the build with `WarmupError` naming the URL (with
the app's traceback as its cause): a site that cannot answer it would fail at run time too.
The data folders are not mounted at build time, and the snapshot keeps memory, not open
handles: a file the app keeps open from a warmup request is a bad descriptor at run time.
"""

import gc
import io
import sys
from urllib.parse import unquote_to_bytes

import wsgi_site_config as config

from .file_wrapper import FileWrapper
from .response import Response

# How much of a 5xx body goes into the build's output.
_SHOWN = 2048


class WarmupError(Exception):
    """A warmup request failed; the message names its URL."""


def run(application):
    """Requests every URL of the site's `warmup` list, in order."""
    urls = getattr(config, "WARMUP", ())
    for url in urls:
        request(application, url)
    if urls:
        # Objects the requests dropped (a file the app forgot to close) are finalized now,
        # not carried into the snapshot.
        gc.collect()


def environ_for(url):
    """The environ of a warmup GET for `url` (path and query, inside the mount)."""
    path, _, query = url.partition("?")
    mount = getattr(config, "MOUNT", "")
    decoded = unquote_to_bytes(path).decode("latin-1")
    host = getattr(config, "WARMUP_HOST", "localhost")
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": mount,
        "PATH_INFO": decoded[len(mount):],
        "QUERY_STRING": query,
        "REQUEST_URI": url,
        "SERVER_NAME": host,
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "0",
        "HTTP_HOST": host,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi_wasm.warmup": True,
    }
    environ.update(getattr(config, "VARS", {}))
    return environ


class _Response(Response):
    """The bridge's start_response (same checks, same `exc_info` rules); write() keeps the
    start of the body for the build's output instead of sending it to a host."""

    def __init__(self):
        super().__init__()
        self.shown = bytearray()

    def write(self, data):
        if not isinstance(data, bytes):
            raise TypeError(f"response body data must be bytes, not {type(data).__name__}")
        if data:
            if self.status is None:
                raise RuntimeError("the app sent its body before calling start_response()")
            self.headers_sent = True
            if len(self.shown) < _SHOWN:
                self.shown += data[: _SHOWN - len(self.shown)]


def request(application, url):
    """Runs one warmup request; raises `WarmupError` if it raised or answered 5xx."""
    response = _Response()
    environ = environ_for(url)
    result = None
    failure = None
    try:
        result = application(environ, response.start_response)
        for chunk in result:
            response.write(chunk)
    except Exception as exc:
        failure = exc
    try:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    except Exception as exc:
        failure = failure or exc
    environ["wsgi.input"].close()
    if failure is not None:
        summary = " ".join(f"{type(failure).__name__}: {failure}".split())
        raise WarmupError(f"`{url}` raised {summary}") from failure
    if response.status is None:
        raise WarmupError(f"`{url}`: the app returned without calling start_response()")
    if response.status.startswith("5"):
        if response.shown:
            body = response.shown.decode("utf-8", "replace")
            print(f"wsgi_bridge: the body of `{url}` began with:\n{body}", file=sys.stderr)
        raise WarmupError(f"`{url}` answered `{response.status}`")
