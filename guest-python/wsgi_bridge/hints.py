"""Clear errors for what the sandbox does not have, installed at build time by the loader.

The guest's CPython is built for WASI: no OpenSSL (`ssl`, `_hashlib`), no C foreign function
interface (`ctypes`), no processes and no threads. A site's vendored packages lose their
native extension files too (the build strips them: they cannot load in WebAssembly). Left
alone, an app meets these as `No module named '_ssl'` or `can't start new thread`, which
says nothing about why. `install` adds:

- a finder at the end of `sys.meta_path`, consulted only after every real finder came up
  empty, that raises `ModuleNotFoundError` with a one-line reason for the modules listed
  here and for the site's stripped extensions. It is still a `ModuleNotFoundError` for the
  same module name, so `try: import ssl except ImportError:` and packages with a
  pure-Python fallback (MarkupSafe's `_speedups`) keep working. Only an import raises: a
  probe such as `importlib.util.find_spec("_ssl")` still gets `None`;
- wrappers around `_thread`'s thread starters that re-raise the `RuntimeError` with a hint.

Nothing here fakes a module: every import that failed before still fails, with a better
message. (What the sandbox does provide in place of a missing piece lives elsewhere: the
sandbox user and `pwd`/`grp` in `users.py`, the event loop in `event_loop.py`; processes,
which stay refused, get their reason in `processes.py`.) It runs at build time, so the hooks are part of the snapshot every request starts
from; a request that hits them fails with a 500 and the hint in the server's log.
"""

import sys

import _thread

# Modules CPython's WASI build lacks: module → (what the app was after, why it is missing).
STDLIB = {
    "_ssl": ("ssl", "the guest has no OpenSSL and no network; TLS is terminated by the server"),
    "_hashlib": (
        "hashlib's OpenSSL backend",
        "the guest has no OpenSSL; hashlib's built-in hashes (sha1, sha2, sha3, blake2, md5) work",
    ),
    "_ctypes": ("ctypes", "WebAssembly cannot load shared libraries or call C code"),
    "_multiprocessing": ("multiprocessing", "a guest cannot start processes"),
    "_posixsubprocess": ("subprocess", "a guest cannot start processes"),
    "_lzma": ("lzma", "the guest's CPython is built without liblzma; zlib and gzip work"),
    "_bz2": ("bz2", "the guest's CPython is built without libbz2; zlib and gzip work"),
    "_zstd": ("compression.zstd", "the guest's CPython is built without libzstd; zlib and gzip work"),
    "_interpreters": ("concurrent.interpreters", "a guest runs one interpreter"),
    "_curses": ("curses", "a guest has no terminal"),
    "readline": ("readline", "a guest has no terminal"),
    "termios": ("termios", "a guest has no terminal"),
    "_tkinter": ("tkinter", "a guest has no display"),
    "_dbm": ("dbm.ndbm", "the guest's CPython is built without it; dbm.sqlite3 and sqlite3 work"),
    "_gdbm": ("dbm.gnu", "the guest's CPython is built without it; dbm.sqlite3 and sqlite3 work"),
    "mmap": ("mmap", "WASI has no memory-mapped files"),
    "fcntl": ("fcntl", "WASI has no file locks or descriptor flags"),
    "resource": ("resource", "the server sets the site's limits ([limits] in site.toml)"),
    "syslog": ("syslog", "write to wsgi.errors or stderr: both go to the server's log"),
}

THREADS = (
    "threads are not available in the wsgi-wasm sandbox: an instance runs one request on "
    "one thread; do the work within the request"
)


def stdlib_message(name):
    wanted, why = STDLIB[name]
    return (
        f"No module named {name!r}: {wanted} is not available in the wsgi-wasm sandbox: {why}"
    )


def native_message(name, package, file):
    return (
        f"No module named {name!r}: package `{package}` needs the native extension "
        f"`{file}`, which has no WebAssembly build; use a pure-Python alternative"
    )


class SandboxFinder:
    """The last finder on `sys.meta_path`: turns a miss on a known module into its reason.

    `native` maps a dotted module name to `(distribution, file)` for each native extension
    the build stripped from the site's vendored packages.
    """

    def __init__(self, native):
        self.native = dict(native)

    def find_spec(self, fullname, path=None, target=None):
        if not _importing():
            return None
        found = self.native.get(fullname)
        if found is not None:
            raise ModuleNotFoundError(native_message(fullname, *found), name=fullname)
        if fullname in STDLIB:
            raise ModuleNotFoundError(stdlib_message(fullname), name=fullname)
        return None

    def invalidate_caches(self):
        pass


def _importing():
    """Whether the import system is loading a module, rather than being asked whether it
    could (`importlib.util.find_spec`): `find_spec` is called by `_find_spec`, called by
    `_find_and_load_unlocked` for an import (frame 0 is this function)."""
    try:
        return sys._getframe(3).f_code.co_name == "_find_and_load_unlocked"
    except (AttributeError, ValueError):
        return True


def _explain_threads(start):
    """`start` (a `_thread` function) re-raising its "can't start" error with the hint."""

    def starter(*args, **kwargs):
        try:
            return start(*args, **kwargs)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {THREADS}") from None

    starter.__name__ = start.__name__
    starter.__qualname__ = start.__qualname__
    starter.__doc__ = start.__doc__
    starter.__wrapped__ = start
    return starter


def install(native=()):
    """Adds the finder (once) and wraps the thread starters (once)."""
    for finder in sys.meta_path:
        if isinstance(finder, SandboxFinder):
            finder.native.update(dict(native))
            break
    else:
        sys.meta_path.append(SandboxFinder(dict(native)))
    for name in ("start_joinable_thread", "start_new_thread", "start_new"):
        start = getattr(_thread, name, None)
        if start is not None and not hasattr(start, "__wrapped__"):
            setattr(_thread, name, _explain_threads(start))
    threading = sys.modules.get("threading")
    if threading is not None and hasattr(threading, "_start_joinable_thread"):
        threading._start_joinable_thread = _thread.start_joinable_thread
