"""asyncio's event loop inside a request: `asyncio.run()`, asgiref's `async_to_sync`,
Django's async views.

A selector event loop opens a socket pair at once, its "self-pipe", so that another thread
or a signal handler can wake it. A guest has neither other threads nor signals, and its
sockets are the site's network grants (none by default), so `socket.socketpair()` fails and
so does `asyncio.new_event_loop()`. Here a loop whose self-pipe cannot be made goes on
without one: nothing could have written to it. Timers, tasks, `gather` and `wait_for` run
on the selector's timeout (WASI `poll_oneoff`); sockets the site may open work as its grants
allow. Applied when `asyncio.selector_events` is first imported (`after_import.py`).
"""

from . import after_import


def _patch(module):
    loop = module.BaseSelectorEventLoop
    make = loop._make_self_pipe
    close = loop._close_self_pipe

    def _make_self_pipe(self):
        try:
            make(self)
        except OSError:
            # `_write_to_self` already treats a missing socket as nothing to wake.
            self._ssock = None
            self._csock = None

    def _close_self_pipe(self):
        if getattr(self, "_ssock", None) is None:
            self._csock = None
            return
        close(self)

    _make_self_pipe.__wrapped__ = make
    _close_self_pipe.__wrapped__ = close
    loop._make_self_pipe = _make_self_pipe
    loop._close_self_pipe = _close_self_pipe


def install():
    after_import.register("asyncio.selector_events", _patch)
