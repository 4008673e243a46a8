"""wsgi.errors: text the app logs while a request runs, forwarded to the host's log."""

from wit_world.imports import host


class ErrorStream:
    """A text stream that sends whole lines to `host.log`, one call per write's lines.

    A partial line waits for its newline, for `flush`, or for the end of the request.
    Each log call carries text without its final newline.
    """

    def __init__(self):
        self._pending = ""

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors.write() takes str, not {type(text).__name__}")
        lines, newline, self._pending = (self._pending + text).rpartition("\n")
        if newline:
            host.log(lines)
        return len(text)

    def writelines(self, lines):
        for text in lines:
            self.write(text)

    def flush(self):
        if self._pending:
            host.log(self._pending)
            self._pending = ""
