"""wsgi.file_wrapper: lets an app return a file as its response body."""


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
