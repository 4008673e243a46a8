"""The guest side of wsgi-wasm: the component's `wsgi` world.

componentize-py imports this package at build time and snapshots the interpreter, so
loading the site (environment, preloads, the app module) happens here, once. At run time
the host calls `WitWorld.handle` once per request; `handler.handle` does the work.
"""

import wit_world

from . import handler, loader

_application = loader.load_site()


class WitWorld(wit_world.WitWorld):
    """The export the host calls: one WSGI request per call."""

    def handle(self, environ):
        handler.handle(_application, environ)
