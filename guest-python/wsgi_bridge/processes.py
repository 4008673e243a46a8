"""Processes stay refused, with the sandbox's one-line reason rather than a raw WASI error.

A guest cannot start a process: `subprocess` fails with `wasi does not support processes`,
`multiprocessing` with `module 'os' has no attribute 'pipe'`, neither saying why. Importing
them keeps working (many packages import `subprocess` and never call it); starting a process
raises `OSError(ENOTSUP)` with the reason, an `OSError` as before, so code that falls back
on one keeps doing so. The patches are applied after import (`after_import.py`).
"""

import errno
import os

from . import after_import

PROCESSES = (
    "a guest cannot start processes in the wsgi-wasm sandbox: an instance runs one request "
    "in one interpreter; do the work within the request"
)


def refusal(what):
    return OSError(errno.ENOTSUP, f"{what} is not available: {PROCESSES}")


def _refuse(what):
    def refused(*args, **kwargs):
        raise refusal(what)

    refused.__name__ = refused.__qualname__ = what.rpartition(".")[2].rstrip("()")
    return refused


def _patch_subprocess(module):
    popen = module.Popen
    original = popen.__init__

    def __init__(self, *args, **kwargs):
        raise refusal("subprocess.Popen")

    __init__.__wrapped__ = original
    popen.__init__ = __init__


def _patch_process(module):
    module.BaseProcess.start = _refuse("multiprocessing.Process.start")


def _patch_pool(module):
    original = module.Pool.__init__

    def __init__(self, *args, **kwargs):
        raise refusal("multiprocessing.Pool")

    __init__.__wrapped__ = original
    module.Pool.__init__ = __init__


def _patch_futures_process(module):
    original = module.ProcessPoolExecutor.__init__

    def __init__(self, *args, **kwargs):
        raise refusal("concurrent.futures.ProcessPoolExecutor")

    __init__.__wrapped__ = original
    module.ProcessPoolExecutor.__init__ = __init__


def install():
    for name in ("popen", "system", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            setattr(os, name, _refuse(f"os.{name}"))
    after_import.register("subprocess", _patch_subprocess)
    after_import.register("multiprocessing.process", _patch_process)
    after_import.register("multiprocessing.pool", _patch_pool)
    after_import.register("concurrent.futures.process", _patch_futures_process)
