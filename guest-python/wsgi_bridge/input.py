"""wsgi.input: the request body, read from the host on demand while the app runs."""

from componentize_py_types import Err
from wit_world.imports import host

# The most the stream asks the host for in one call.
PIECE = 64 * 1024


class InputStream:
    """A read-only binary stream over `host.read_body`, never reading past the body's end.

    `remaining` is how many bytes the body may still hold, or None when the host ends it
    (a chunked body).
    """

    def __init__(self, remaining):
        self._remaining = remaining
        self._buffer = bytearray()

    def _fill(self):
        """Appends one piece from the host to the buffer; False once the body has ended."""
        if self._remaining == 0:
            return False
        want = PIECE if self._remaining is None else min(PIECE, self._remaining)
        try:
            piece = host.read_body(want)
        except Err as err:
            raise OSError(f"request body could not be read: {err.value}") from None
        if not piece:
            self._remaining = 0
            return False
        if self._remaining is not None:
            piece = piece[:want]
            self._remaining -= len(piece)
        self._buffer += piece
        return True

    def _take(self, size):
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size=-1):
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size=-1):
        if size is None:
            size = -1
        searched = 0
        while True:
            newline = self._buffer.find(b"\n", searched)
            if newline >= 0:
                end = newline + 1
                break
            searched = len(self._buffer)
            if 0 <= size <= searched or not self._fill():
                end = searched
                break
        return self._take(end if size < 0 else min(end, size))

    def readlines(self, hint=-1):
        lines = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line
