"""Two directives of the old nginx module, applied at build time by the loader.

- `[app] optimize` (`wsgi_python_optimize`): the site's modules and its vendored packages
  are compiled as `python -O` (1: asserts dropped, `__debug__` false) or `-OO` (2:
  docstrings dropped too) would compile them. The interpreter's own flag is fixed when it
  starts, so the level is given to each compile of a source file instead; the standard
  library (`/python`) and the bridge keep theirs.
- `[app] middleware` (`wsgi_middleware`): each `module:callable` is imported and called
  with the app, in order (the first wraps the app, the last is outermost); what it returns
  is the app from then on. Imports and wrapping happen before the snapshot, so a request
  pays nothing for them.
"""

import importlib
import os

_BRIDGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class MiddlewareError(Exception):
    """A `middleware` entry could not be imported or applied."""


def optimize(level):
    """Compiles every source file outside the standard library and the bridge at `level`."""
    if not level:
        return
    from importlib import _bootstrap_external as external

    original = external.SourceLoader.source_to_code
    if getattr(original, "__wrapped__", None) is not None:
        original = original.__wrapped__
    skipped = ("/python/", _BRIDGE + "/")

    def source_to_code(self, data, path, *args, _optimize=-1, **kwargs):
        if _optimize == -1 and isinstance(path, str) and not path.startswith(skipped):
            _optimize = level
        return original(self, data, path, *args, _optimize=_optimize, **kwargs)

    source_to_code.__wrapped__ = original
    external.SourceLoader.source_to_code = source_to_code


def wrap(application, entries, where):
    """`application` wrapped in each `(module, attribute)` of `entries`, in order."""
    for module_name, attribute in entries:
        entry = f"{where}: `app.middleware` entry `{module_name}:{attribute}`"
        try:
            target = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except Exception as exc:
            raise MiddlewareError(f"{entry} could not be imported") from exc
        if not callable(target):
            raise MiddlewareError(f"{entry} is a {type(target).__name__}, not callable")
        try:
            wrapped = target(application)
        except Exception as exc:
            raise MiddlewareError(f"{entry} raised when wrapping the app") from exc
        if not callable(wrapped):
            raise MiddlewareError(
                f"{entry} returned a {type(wrapped).__name__}, not a WSGI callable"
            )
        application = wrapped
    return application
