"""Start of every request: turns the host's CGI pairs into the PEP 3333 environ dict."""

from .errors import ErrorStream
from .file_wrapper import FileWrapper
from .input import InputStream

_CONSTANT = {
    "wsgi.version": (1, 0),
    "wsgi.multithread": False,
    "wsgi.multiprocess": True,
    "wsgi.file_wrapper": FileWrapper,
}


def _body_length(content_length, chunked):
    """How many body bytes to read: an int, or None for a chunked body (read to its end)."""
    if chunked:
        return None
    if not content_length:
        return 0
    try:
        return max(int(content_length), 0)
    except ValueError:
        return 0


def build_environ(pairs, errors: ErrorStream):
    """The environ dict for one request; `errors` becomes wsgi.errors."""
    environ = dict(pairs)
    chunked = environ.get("wsgi.input_terminated") == "1"
    environ.update(_CONSTANT)
    environ.setdefault("wsgi.url_scheme", "http")
    environ["wsgi.run_once"] = environ.get("wsgi.run_once") == "1"
    # The host ends the body at CONTENT_LENGTH, so a known length is terminated too.
    environ["wsgi.input_terminated"] = chunked or "CONTENT_LENGTH" in environ
    environ["wsgi.input"] = InputStream(_body_length(environ.get("CONTENT_LENGTH"), chunked))
    environ["wsgi.errors"] = errors
    return environ
