"""The response side of a request: start_response, the write() callable, and sending.

Checks what the app hands over against PEP 3333, then sends the status and headers to the
host just before the first non-empty body chunk (or at the end for an empty body), and
each body chunk after them. A body given whole as a list goes out in one host call.
"""

import re

from componentize_py_types import Err
from wit_world.imports import host

# Status line: three digits, a space, a reason phrase of visible latin-1 text.
_STATUS = re.compile(r"[1-9][0-9]{2} [\t\x20-\x7e\x80-\xff]*")
_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# Connection-level headers belong to the host (PEP 3333, "Other HTTP Features").
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})


class SendError(OSError):
    """The host could not send the response on: the client went away, or it was refused."""


class ClientGone(SendError):
    """The body could not be sent on: the client went away (a normal event, no bug)."""


def _one_line(text):
    return " ".join(str(text).split())


def _check_status(status):
    if not isinstance(status, str):
        raise TypeError(f"status must be a str, not {type(status).__name__}")
    if not _STATUS.fullmatch(status):
        raise ValueError(f"status {status!r} is not of the form '200 OK'")


def _check_headers(headers):
    if type(headers) is not list:
        raise TypeError(f"headers must be a list, not {type(headers).__name__}")
    for header in headers:
        if not (isinstance(header, tuple) and len(header) == 2):
            raise TypeError(f"header {header!r} is not a (name, value) tuple")
        name, value = header
        if not (isinstance(name, str) and isinstance(value, str)):
            raise TypeError(f"header {header!r} must hold two str")
        if not _NAME.fullmatch(name):
            raise ValueError(f"header name {name!r} is not a valid HTTP token")
        if not _VALUE.fullmatch(value):
            raise ValueError(f"header {name!r} has a value that is not printable latin-1")
        if name.lower() in _HOP_BY_HOP:
            raise ValueError(f"hop-by-hop header {name!r} is not allowed in a WSGI response")


class Response:
    """The response state of one request.

    `failure` holds a one-line reason once the request cannot end well whatever the app
    does next (the client went away, the host refused the headers, no start_response).
    """

    __slots__ = ("status", "headers", "headers_sent", "failure")

    def __init__(self):
        self.status = None
        self.headers = None
        self.headers_sent = False
        self.failure = None

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise RuntimeError("start_response() called a second time without exc_info")
        _check_status(status)
        _check_headers(headers)
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data):
        """Sends one body chunk: the write() callable, and each chunk of the iterable."""
        if not isinstance(data, bytes):
            raise TypeError(f"response body data must be bytes, not {type(data).__name__}")
        if data:
            if not self.headers_sent:
                self._send_headers()
            if self.failure is not None:
                raise ClientGone(self.failure)
            try:
                host.write(data)
            except Err as err:
                self.failure = _one_line(err.value)
                raise ClientGone(self.failure) from None

    def send_file(self, wrapper):
        """Has the host send a wrapped file from disk; False when it must be iterated."""
        found = wrapper.host_file()
        if found is None:
            return False
        head = None
        if not self.headers_sent:
            if self.status is None:
                return False  # iterating reports the missing start_response
            head = host.ResponseHead(self.status, self.headers)
        path, offset = found
        try:
            host.send_file(head, path, offset, None)
        except Err as err:
            if isinstance(err.value, host.SendFileError_Refused):
                return False
            self.headers_sent = True
            self.failure = _one_line(err.value.value)
            raise ClientGone(self.failure) from None
        self.headers_sent = True
        return True

    def send_whole(self, chunks):
        """Sends the status, headers and a list body in one host call: the fast path."""
        for chunk in chunks:
            if not isinstance(chunk, bytes):
                raise TypeError(f"response body data must be bytes, not {type(chunk).__name__}")
        self._start_sending()
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            host.send_response(self.status, self.headers, body)
        except Err as err:
            self.failure = "host refused the response: " + _one_line(err.value)
            raise SendError(self.failure) from None

    def finish(self):
        """Ends a response whose body was empty: the headers still have to go out."""
        if not self.headers_sent:
            self._send_headers()

    def _start_sending(self):
        if self.status is None:
            self.failure = "start_response not called"
            raise RuntimeError("the app sent its body or returned before calling start_response()")
        self.headers_sent = True

    def _send_headers(self):
        self._start_sending()
        try:
            host.send_headers(self.status, self.headers)
        except Err as err:
            self.failure = "host refused headers: " + _one_line(err.value)
            raise SendError(self.failure) from None
