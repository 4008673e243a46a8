"""The hot path: runs the WSGI app for one request and streams its response to the host.

Nothing but `Err` may leave `handle`: any other exception would trap the whole instance.
"""

import traceback

from componentize_py_types import Err
from wit_world.imports import host

from .environ import build_environ
from .errors import ErrorStream
from .file_wrapper import FileWrapper
from .response import ClientGone, Response
from .workdir import restore as restore_workdir


def handle(application, pairs):
    """Serves one request; raises `Err` with a one-line reason unless it was sent whole."""
    restore_workdir()
    errors = ErrorStream()
    response = Response()
    result = None
    reason = None
    try:
        result = application(build_environ(pairs, errors), response.start_response)
        if type(result) is list and not response.headers_sent:
            response.send_whole(result)
        elif type(result) is FileWrapper and response.send_file(result):
            pass
        else:
            for chunk in result:
                response.write(chunk)
            response.finish()
    except BaseException as exc:
        reason = response.failure or f"app raised {type(exc).__name__}"
        # A client that went away is the host's to report (one line), not a traceback.
        if not isinstance(exc, ClientGone):
            _log_exception(exc)
    close_reason = _close(result)
    # The failure may have happened in a write() whose error the app swallowed.
    reason = reason or close_reason or response.failure
    errors.flush()
    if reason is not None:
        raise Err(reason)


def _close(result):
    """Calls the iterable's close() if it has one; a one-line reason if that raised."""
    try:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    except BaseException as exc:
        _log_exception(exc)
        return f"app raised {type(exc).__name__} in close()"
    return None


def _log_exception(exc):
    try:
        text = "".join(traceback.format_exception(exc)).rstrip("\n")
    except BaseException:
        text = f"{type(exc).__name__} raised (its traceback could not be formatted)"
    host.log(text)
