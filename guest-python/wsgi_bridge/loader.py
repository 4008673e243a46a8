"""Build time: prepares the interpreter for the site and finds its WSGI callable.

Runs once, when componentize-py imports `wsgi_bridge` to snapshot the interpreter: applies
the site's environment, the sandbox user (`users.py`), the sandbox's hints (`hints.py`,
`processes.py`) and event loop (`event_loop.py`), moves to the app's code folder
(`workdir.py`), sets the byte-code optimization (`directives.py`), imports the preload
lists, imports the app module, wraps it in the site's middleware (`directives.py`), then
requests its warmup URLs (`warmup.py`). Anything wrong with the site raises here, so the build fails with a
traceback naming the site.
"""

import importlib
import os
import sys

import wsgi_site_config as config

from . import directives, event_loop, hints, processes, users, warmup, workdir
from .preload import DEFAULT_PRELOAD


class SiteLoadError(Exception):
    """The site's WSGI callable could not be loaded."""


def load_site():
    """Returns the site's WSGI callable, after applying ENV and the preloads."""
    importlib.import_module(".crypto", __package__).install()  # hashlib.pbkdf2_hmac if missing
    # The build mounts the site's folders writable: leave no __pycache__ behind in them.
    sys.dont_write_bytecode = True
    os.environ.update(config.ENV)
    users.install()
    hints.install(getattr(config, "NATIVE", {}))
    if sys.platform == "wasi":  # not in the bridge's unit tests, on the host's CPython
        processes.install()
        event_loop.install()
        # Imports at build time, and every request after, run in the app's code folder.
        workdir.enter(config.MODULE)
    directives.optimize(getattr(config, "OPTIMIZE", 0))
    for name in DEFAULT_PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:
            print(f"wsgi_bridge: skipped preloading {name}: {exc!r}", file=sys.stderr)
    where = f"site {config.SITE!r}"
    for name in config.PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise SiteLoadError(f"{where}: preload module {name!r} failed to import") from exc
    try:
        module = importlib.import_module(config.MODULE)
    except Exception as exc:
        raise SiteLoadError(f"{where}: app module {config.MODULE!r} failed to import") from exc
    try:
        application = getattr(module, config.CALLABLE)
    except AttributeError:
        raise SiteLoadError(
            f"{where}: module {config.MODULE!r} has no attribute {config.CALLABLE!r}"
        ) from None
    if not callable(application):
        raise SiteLoadError(
            f"{where}: {config.MODULE}.{config.CALLABLE} is a "
            f"{type(application).__name__}, not a WSGI callable"
        )
    application = directives.wrap(application, getattr(config, "MIDDLEWARE", []), where)
    warmup.run(application)
    return application
