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


def _body_length(content_length):
    """How many body bytes to read: an int, or None when the host ends the body (chunked)."""
    if content_length is None:
        return None
    try:
        return max(int(content_length), 0)
    except ValueError:
        return 0


def build_environ(pairs, errors: ErrorStream):
    """The environ dict for one request; `errors` becomes wsgi.errors."""
    environ = dict(pairs)
    environ.update(_CONSTANT)
    environ.setdefault("wsgi.url_scheme", "http")
    environ["wsgi.run_once"] = environ.get("wsgi.run_once") == "1"
    # The host always ends the body where it ends: at CONTENT_LENGTH, or, for a chunked
    # body (which has no CONTENT_LENGTH), at its last chunk.
    environ["wsgi.input_terminated"] = True
    environ["wsgi.input"] = InputStream(_body_length(environ.get("CONTENT_LENGTH")))
    environ["wsgi.errors"] = errors
    return environ
