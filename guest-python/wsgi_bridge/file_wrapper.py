"""wsgi.file_wrapper: lets an app return a file as its response body.

When the wrapped object is a real binary file opened from the site's own folders, the
bridge asks the host to send it (`host.send_file`): the host reads it from disk into the
response, and its bytes never pass through the interpreter. Anything else (a BytesIO, a
text file, a file the host will not send) is iterated in blocks, as PEP 3333 describes.
"""


class FileWrapper:
    """Iterates a binary file-like object in blocks; `close` closes it (PEP 3333)."""

    def __init__(self, filelike, blksize=64 * 1024):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        block = self.filelike.read(self.blksize)
        if block:
            return block
        raise StopIteration

    # Werkzeug's range responses seek the wrapped file instead of reading up to the range.
    def seekable(self):
        seekable = getattr(self.filelike, "seekable", None)
        return bool(seekable and seekable())

    def seek(self, *args):
        return self.filelike.seek(*args)

    def tell(self):
        return self.filelike.tell()

    def host_file(self):
        """(guest path, offset) when the host can send the file itself, else None."""
        filelike = self.filelike
        name = getattr(filelike, "name", None)
        if not isinstance(name, str) or not name.startswith("/"):
            return None
        if "b" not in getattr(filelike, "mode", ""):
            return None
        try:
            filelike.fileno()
            offset = filelike.tell()
        except Exception:
            return None
        return name, offset
