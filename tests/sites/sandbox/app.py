"""Sandbox fixture: each view reaches for something the guest does not have."""

import json

import markupsafe  # its C speedup was stripped at build: the pure-Python fallback loads

try:  # the usual optional-speedup pattern: must keep working
    import ujson as fast_json
except ImportError:
    fast_json = None


def _text(start_response, body, status="200 OK"):
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/ssl":
        import ssl  # noqa: F401
        return _text(start_response, "unreachable\n")
    if path == "/thread":
        import threading
        threading.Thread(target=print).start()
        return _text(start_response, "unreachable\n")
    if path == "/ujson":
        import ujson
        return _text(start_response, ujson.dumps([1]))
    if path == "/optional":
        facts = {"fast_json": fast_json is not None}
        try:
            import ssl  # noqa: F401
            facts["ssl"] = "imported"
        except ImportError as exc:
            facts["ssl"] = [type(exc).__name__, exc.name]
        try:
            import lzma  # noqa: F401
        except ModuleNotFoundError as exc:
            facts["lzma"] = [type(exc).__name__, exc.name]
        import importlib.util
        facts["find_spec"] = [importlib.util.find_spec(n) for n in ("_ssl", "ujson")]
        import hashlib
        facts["sha256"] = hashlib.sha256(b"abc").hexdigest()[:8]
        facts["escape"] = str(markupsafe.escape("<b>"))
        facts["escape_inner"] = markupsafe._escape_inner.__module__  # the fallback's module
        return _text(start_response, json.dumps(facts))
    return _text(start_response, "not found\n", "404 Not Found")
