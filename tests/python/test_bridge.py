"""Unit tests of the guest bridge (guest-python/wsgi_bridge), run natively against a fake host.

The bindings componentize-py generates for wit/wsgi.wit are written to a temporary folder
at run time; the host functions in them are replaced with fakes that record every call.
Run with: python3 -m unittest discover -s tests/python -v
"""

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import unittest.mock
import warnings
from pathlib import Path
from wsgiref.validate import validator

ROOT = Path(__file__).resolve().parents[2]
# The project installs componentize-py into its state folder; cargo test points here.
STATE_COMPONENTIZE_PY = ROOT / "target/tmp/wsgi-wasm-state/toolchain/componentize-py-0.25.1/venv/bin/componentize-py"

# Filled by setUpModule once the bindings exist.
Err = None
host = None
wsgi_bridge = None
fake_site = None
_tempdir = None


def _componentize_py():
    for candidate in (
        os.environ.get("COMPONENTIZE_PY"),
        shutil.which("componentize-py"),
        str(STATE_COMPONENTIZE_PY),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


SITE_CONFIG = """\
SITE = "unit"
MODULE = "fake_site"
CALLABLE = "application"
PRELOAD = ["colorsys"]
ENV = {"UNIT_SITE_VAR": "from config"}
"""

FAKE_SITE = """\
current = None


def application(environ, start_response):
    return current(environ, start_response)


not_callable = 42
"""


def setUpModule():
    global Err, host, wsgi_bridge, fake_site, _tempdir
    tool = _componentize_py()
    if tool is None:
        raise unittest.SkipTest(
            "componentize-py not found: set COMPONENTIZE_PY, put it on PATH, "
            "or run `cargo test` once (it installs it under target/tmp)"
        )
    _tempdir = tempfile.TemporaryDirectory()
    base = Path(_tempdir.name)
    bindings = base / "bindings"
    empty_venv = base / "venv"
    empty_venv.mkdir()
    subprocess.run(
        [tool, "-d", str(ROOT / "wit"), "-w", "wsgi", "bindings", str(bindings)],
        check=True,
        capture_output=True,
        env={**os.environ, "VIRTUAL_ENV": str(empty_venv)},
    )
    site = base / "site"
    site.mkdir()
    (site / "wsgi_site_config.py").write_text(SITE_CONFIG)
    (site / "fake_site.py").write_text(FAKE_SITE)
    sys.path[:0] = [str(bindings), str(ROOT / "guest-python"), str(site)]

    import componentize_py_types
    import fake_site as site_module
    import wit_world.imports.host as host_module
    import wsgi_bridge as bridge

    Err = componentize_py_types.Err
    host = host_module
    wsgi_bridge = bridge
    fake_site = site_module


def tearDownModule():
    if _tempdir is not None:
        _tempdir.cleanup()


def site_files():
    """The folder the fake host treats as the site's own (send_file serves only from it)."""
    folder = Path(_tempdir.name) / "site-files"
    folder.mkdir(exist_ok=True)
    return folder


class FakeHost:
    """Stands in for the Rust host: a request body to read, and a record of every call."""

    def __init__(self, body=b"", fail_write_at=None, fail_read=False, refuse=False):
        self.body = io.BytesIO(body)
        self.fail_write_at = fail_write_at
        self.fail_read = fail_read
        self.refuse = refuse
        self.events = []
        self.read_sizes = []

    def read_body(self, size):
        self.read_sizes.append(size)
        if self.fail_read:
            raise Err("client went away while sending")
        return self.body.read(size)

    def send_headers(self, status, headers):
        if self.refuse:
            raise Err("malformed header\nsecond line")
        self.events.append(("headers", status, list(headers)))

    def send_response(self, status, headers, body):
        if self.refuse:
            raise Err("malformed header\nsecond line")
        self.events.append(("response", status, list(headers), bytes(body)))

    def write(self, chunk):
        writes = sum(1 for event in self.events if event[0] == "write")
        if writes == self.fail_write_at:
            raise Err("connection reset")
        self.events.append(("write", bytes(chunk)))

    def send_file(self, head, path, offset, length):
        # Like the host: only files under the site's folders (here: one test folder).
        if not path.startswith(str(site_files()) + "/"):
            raise Err(host.SendFileError_Refused(f"`{path}` is not in one of the site's own folders"))
        if head is not None:
            self.send_headers(head.status, head.headers)
        with open(path, "rb") as file:
            file.seek(offset)
            data = file.read() if length is None else file.read(length)
        self.events.append(("file", path, data))
        return len(data)

    def log(self, text):
        self.events.append(("log", text))

    # Views over the record.
    @property
    def headers(self):
        """Every (status, headers) sent, by send_headers or send_response."""
        return [event[1:3] for event in self.events if event[0] in ("headers", "response")]

    @property
    def body_out(self):
        return b"".join(
            event[-1] for event in self.events if event[0] in ("write", "response", "file")
        )

    @property
    def logs(self):
        return [event[1] for event in self.events if event[0] == "log"]

    def kinds(self):
        return [event[0] for event in self.events]


def base_environ(**extra):
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "unit.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "REQUEST_URI": "/",
        "wsgi.url_scheme": "http",
    }
    environ.update(extra)
    return environ


def hello_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return [b"hello\n"]


class ClosingBody:
    """An iterable body that counts its close() calls and can fail part way."""

    def __init__(self, chunks, fail_at=None):
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = 0

    def __iter__(self):
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise ZeroDivisionError("fails while iterating")
            yield chunk

    def close(self):
        self.closed += 1


class BridgeTestCase(unittest.TestCase):
    def run_app(self, app, body=b"", environ=None, fake=None, **host_options):
        """Runs one request; returns (the Err reason or None, the fake host)."""
        fake = fake or FakeHost(body, **host_options)
        fake_site.current = app
        for name in ("read_body", "send_headers", "send_response", "write", "send_file", "log"):
            patcher = unittest.mock.patch.object(host, name, getattr(fake, name))
            patcher.start()
            self.addCleanup(patcher.stop)
        pairs = list((environ or base_environ()).items())
        try:
            wsgi_bridge.WitWorld().handle(pairs)
        except Err as err:
            return err.value, fake
        return None, fake


class ResponseTests(BridgeTestCase):
    def test_hello(self):
        reason, fake = self.run_app(hello_app)
        self.assertIsNone(reason)
        self.assertEqual(fake.kinds(), ["response"])
        self.assertEqual(
            fake.headers,
            [("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])],
        )
        self.assertEqual(fake.body_out, b"hello\n")

    def test_headers_wait_for_first_non_empty_chunk(self):
        fake = FakeHost()
        seen = []

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b""
            seen.append(fake.kinds())
            yield b""
            seen.append(fake.kinds())
            yield b"data"
            yield b""
            yield b"more"

        reason, _ = self.run_app(app, fake=fake)
        self.assertIsNone(reason)
        self.assertEqual(seen, [[], []])
        self.assertEqual(fake.kinds(), ["headers", "write", "write"])
        self.assertEqual(fake.body_out, b"datamore")

    def test_empty_body_sends_headers_at_end(self):
        def app(environ, start_response):
            start_response("204 No Content", [])
            yield b""

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.kinds(), ["headers"])
        self.assertEqual(fake.headers, [("204 No Content", [])])

    def test_list_body_goes_out_in_one_call(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"one ", b"", b"two"]

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.events, [
            ("response", "200 OK", [("Content-Type", "text/plain")], b"one two"),
        ])

    def test_empty_list_body(self):
        def app(environ, start_response):
            start_response("204 No Content", [])
            return []

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.events, [("response", "204 No Content", [], b"")])

    def test_list_after_empty_write_uses_fast_path(self):
        def app(environ, start_response):
            start_response("200 OK", [])(b"")
            return [b"body"]

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.events, [("response", "200 OK", [], b"body")])

    def test_write_callable_then_iterable(self):
        def app(environ, start_response):
            write = start_response("200 OK", [("Content-Type", "text/plain")])
            write(b"one ")
            write(b"")
            write(b"two ")
            return [b"three"]

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.kinds(), ["headers", "write", "write", "write"])
        self.assertEqual(fake.body_out, b"one two three")

    def test_write_rejects_str(self):
        def app(environ, start_response):
            start_response("200 OK", [])("text")
            return []

        reason, fake = self.run_app(app)
        self.assertEqual(reason, "app raised TypeError")
        self.assertEqual(fake.kinds(), ["log"])

    def test_str_chunk_is_an_app_error(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return ["not bytes"]

        reason, fake = self.run_app(app)
        self.assertEqual(reason, "app raised TypeError")
        self.assertEqual(fake.kinds(), ["log"])
        self.assertIn("must be bytes, not str", fake.logs[0])

    def test_str_chunk_in_generator(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"bytes first"
            yield "then str"

        reason, fake = self.run_app(app)
        self.assertEqual(reason, "app raised TypeError")
        self.assertEqual(fake.kinds(), ["headers", "write", "log"])

    def test_start_response_not_called(self):
        reason, fake = self.run_app(lambda environ, start_response: [])
        self.assertEqual(reason, "start_response not called")
        self.assertNotIn("headers", fake.kinds())

    def test_body_before_start_response(self):
        reason, fake = self.run_app(lambda environ, start_response: [b"early"])
        self.assertEqual(reason, "start_response not called")
        self.assertEqual(fake.kinds(), ["log"])

    def test_app_exception_logs_traceback(self):
        def app(environ, start_response):
            return 1 / 0

        reason, fake = self.run_app(app)
        self.assertEqual(reason, "app raised ZeroDivisionError")
        self.assertEqual(len(fake.logs), 1)
        self.assertTrue(fake.logs[0].startswith("Traceback (most recent call last):"))
        self.assertIn("ZeroDivisionError: division by zero", fake.logs[0])
        self.assertFalse(fake.logs[0].endswith("\n"))

    def test_base_exceptions_never_escape(self):
        for error in (SystemExit(3), KeyboardInterrupt(), GeneratorExit(), MemoryError(),
                      RecursionError("deep"), Err("an Err from the app")):
            with self.subTest(error=type(error).__name__):
                def app(environ, start_response, error=error):
                    raise error

                reason, fake = self.run_app(app)
                self.assertEqual(reason, f"app raised {type(error).__name__}")

    def test_generator_raising_base_exception_mid_body(self):
        def app(environ, start_response):
            start_response("200 OK", [])
            yield b"part"
            raise SystemExit(1)

        reason, fake = self.run_app(app)
        self.assertEqual(reason, "app raised SystemExit")
        self.assertEqual(fake.kinds(), ["headers", "write", "log"])

    def test_host_refusing_headers(self):
        def app(environ, start_response):
            start_response("200 OK", [])
            yield b"body"

        reason, fake = self.run_app(app, refuse=True)
        self.assertEqual(reason, "host refused headers: malformed header second line")
        self.assertEqual(fake.kinds(), ["log"])

    def test_host_refusing_response(self):
        reason, fake = self.run_app(hello_app, refuse=True)
        self.assertEqual(reason, "host refused the response: malformed header second line")
        self.assertEqual(fake.kinds(), ["log"])


class StartResponseTests(BridgeTestCase):
    def test_second_call_without_exc_info(self):
        def app(environ, start_response):
            start_response("200 OK", [])
            start_response("500 Oops", [])
            return []

        reason, fake = self.run_app(app)
        self.assertEqual(reason, "app raised RuntimeError")
        self.assertIn("second time", fake.logs[0])

    def test_exc_info_before_headers_replaces_them(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            try:
                1 / 0
            except ZeroDivisionError:
                start_response("500 Internal Server Error",
                               [("Content-Type", "text/html")], sys.exc_info())
            return [b"<p>error</p>"]

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.headers,
                         [("500 Internal Server Error", [("Content-Type", "text/html")])])

    def test_exc_info_after_headers_reraises(self):
        def app(environ, start_response):
            write = start_response("200 OK", [("Content-Type", "text/plain")])
            write(b"partial")
            try:
                raise LookupError("original problem")
            except LookupError:
                start_response("500 Internal Server Error", [], sys.exc_info())
            return [b"never sent"]

        reason, fake = self.run_app(app)
        self.assertEqual(reason, "app raised LookupError")
        self.assertEqual(fake.kinds(), ["headers", "write", "log"])
        self.assertIn("original problem", fake.logs[0])
        self.assertIn("raise LookupError", fake.logs[0])

    def test_invalid_status_and_headers(self):
        cases = [
            (b"200 OK", [], "TypeError"),
            ("200", [], "ValueError"),
            ("200OK", [], "ValueError"),
            ("2000 OK", [], "ValueError"),
            ("200 OK\r\nX: y", [], "ValueError"),
            ("200 OK", (("A", "b"),), "TypeError"),
            ("200 OK", [("A", "b", "c")], "TypeError"),
            ("200 OK", [["A", "b"]], "TypeError"),
            ("200 OK", [("A", 1)], "TypeError"),
            ("200 OK", [("Bad Name", "x")], "ValueError"),
            ("200 OK", [("X-Snow", "\u2603")], "ValueError"),
            ("200 OK", [("X-Split", "a\r\nb")], "ValueError"),
            ("200 OK", [("Connection", "close")], "ValueError"),
            ("200 OK", [("Transfer-Encoding", "chunked")], "ValueError"),
        ]
        for status, headers, error in cases:
            with self.subTest(status=status, headers=headers):
                def app(environ, start_response, status=status, headers=headers):
                    start_response(status, headers)
                    return [b"x"]

                reason, fake = self.run_app(app)
                self.assertEqual(reason, f"app raised {error}")
                self.assertNotIn("headers", fake.kinds())

    def test_latin1_header_value_accepted(self):
        def app(environ, start_response):
            start_response("200 Ça va", [("X-Name", "caf\xe9"), ("X-Tab", "a\tb")])
            return []

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.headers, [("200 Ça va", [("X-Name", "caf\xe9"), ("X-Tab", "a\tb")])])


class CloseTests(BridgeTestCase):
    def test_close_once_on_success(self):
        body = ClosingBody([b"a", b"b"])
        reason, fake = self.run_app(self._app(body))
        self.assertIsNone(reason)
        self.assertEqual(body.closed, 1)

    def test_close_once_on_app_error(self):
        body = ClosingBody([b"a", b"b"], fail_at=1)
        reason, fake = self.run_app(self._app(body))
        self.assertEqual(reason, "app raised ZeroDivisionError")
        self.assertEqual(body.closed, 1)
        # The traceback is logged before close() runs.
        self.assertEqual(fake.kinds(), ["headers", "write", "log"])

    def test_close_once_when_client_goes_away(self):
        body = ClosingBody([b"a", b"b", b"c"])
        reason, fake = self.run_app(self._app(body), fail_write_at=1)
        self.assertEqual(reason, "connection reset")
        self.assertEqual(body.closed, 1)
        self.assertEqual(fake.body_out, b"a")
        self.assertEqual(fake.logs, [], "a client going away is no traceback")

    def test_close_once_on_str_chunk(self):
        body = ClosingBody(["text"])
        reason, fake = self.run_app(self._app(body))
        self.assertEqual(reason, "app raised TypeError")
        self.assertEqual(body.closed, 1)

    def test_close_raising(self):
        class Body(ClosingBody):
            def close(self):
                super().close()
                raise ValueError("close failed")

        body = Body([b"a"])
        reason, fake = self.run_app(self._app(body))
        self.assertEqual(reason, "app raised ValueError in close()")
        self.assertEqual(body.closed, 1)
        self.assertIn("close failed", fake.logs[-1])

    def test_first_failure_wins_over_close_failure(self):
        class Body(ClosingBody):
            def close(self):
                raise ValueError("close failed too")

        reason, fake = self.run_app(self._app(Body([b"a"], fail_at=0)))
        self.assertEqual(reason, "app raised ZeroDivisionError")
        self.assertEqual(len(fake.logs), 2)

    def test_swallowed_client_error_still_fails(self):
        def app(environ, start_response):
            write = start_response("200 OK", [])
            for _ in range(3):
                try:
                    write(b"chunk")
                except OSError:
                    pass
            return []

        reason, fake = self.run_app(app, fail_write_at=0)
        self.assertEqual(reason, "connection reset")
        self.assertEqual(fake.body_out, b"")
        # Once the client is gone the bridge stops calling host.write.
        self.assertEqual(fake.kinds(), ["headers"])

    def test_generator_close(self):
        finished = []

        def app(environ, start_response):
            start_response("200 OK", [])
            try:
                yield b"one"
                yield b"two"
            finally:
                finished.append(True)

        reason, fake = self.run_app(app, fail_write_at=0)
        self.assertEqual(reason, "connection reset")
        self.assertEqual(finished, [True])

    @staticmethod
    def _app(body):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return body

        return app


class InputTests(BridgeTestCase):
    BODY = b"first line\nsecond line\n" + bytes(range(256)) * 700 + b"\nlast"

    def read_with(self, reader, body=None, **environ):
        """Runs an app that hands wsgi.input to `reader`; returns (its result, the fake host)."""
        out = []

        def app(env, start_response):
            out.append(reader(env["wsgi.input"]))
            start_response("200 OK", [])
            return []

        body = self.BODY if body is None else body
        if not environ:
            environ = {"CONTENT_LENGTH": str(len(body))}
        reason, fake = self.run_app(app, body, base_environ(REQUEST_METHOD="POST", **environ))
        self.assertIsNone(reason, fake.logs)
        return out[0], fake

    def test_read_all_variants(self):
        for call in (lambda s: s.read(), lambda s: s.read(-1), lambda s: s.read(None)):
            data, fake = self.read_with(call)
            self.assertEqual(data, self.BODY)
            self.assertTrue(all(0 < size <= 64 * 1024 for size in fake.read_sizes))

    def test_never_reads_past_content_length(self):
        data, fake = self.read_with(lambda s: (s.read(), s.read(), s.read(10)),
                                    body=self.BODY, CONTENT_LENGTH="15")
        self.assertEqual(data, (self.BODY[:15], b"", b""))
        self.assertEqual(fake.read_sizes, [15])

    def test_read_sizes(self):
        def reader(stream):
            return [stream.read(0), stream.read(1), stream.read(5), stream.read(100_000),
                    stream.read(10**9), stream.read(1)]

        parts, fake = self.read_with(reader)
        self.assertEqual(parts[0], b"")
        self.assertEqual(b"".join(parts), self.BODY)
        self.assertEqual([len(part) for part in parts[:4]], [0, 1, 5, 100_000])
        self.assertEqual(parts[-1], b"")

    def test_readline_variants(self):
        def reader(stream):
            return [stream.readline(), stream.readline(3), stream.readline(None),
                    stream.readline(-1)]

        lines, _ = self.read_with(reader)
        self.assertEqual(lines[:3], [b"first line\n", b"sec", b"ond line\n"])
        self.assertEqual(lines[3], bytes(range(11)))

    def test_iteration_and_readlines(self):
        expected = io.BytesIO(self.BODY).readlines()
        lines, _ = self.read_with(list)
        self.assertEqual(lines, expected)
        lines, _ = self.read_with(lambda s: s.readlines())
        self.assertEqual(lines, expected)
        lines, _ = self.read_with(lambda s: s.readlines(12))
        self.assertEqual(lines, expected[:2])

    def test_mixed_reads_hash(self):
        def reader(stream):
            digest = hashlib.sha256()
            for turn in range(10**6):
                piece = stream.readline(50) if turn % 2 else stream.read(turn % 9000)
                if not piece and turn % 9000:
                    break
                digest.update(piece)
            return digest.hexdigest()

        digest, _ = self.read_with(reader)
        self.assertEqual(digest, hashlib.sha256(self.BODY).hexdigest())

    def test_chunked_body_reads_to_end(self):
        data, fake = self.read_with(lambda s: s.read(), **{"wsgi.input_terminated": "1"})
        self.assertEqual(data, self.BODY)
        self.assertEqual(fake.read_sizes[-1], 64 * 1024)

    def test_no_content_length_reads_until_the_host_ends_the_body(self):
        data, fake = self.read_with(lambda s: (s.read(), s.readline()), QUERY_STRING="x=1")
        self.assertEqual(data, (self.BODY, b""))
        self.assertTrue(fake.read_sizes)

    def test_content_length_zero_asks_the_host_nothing(self):
        data, fake = self.read_with(lambda s: (s.read(), s.readline()), CONTENT_LENGTH="0")
        self.assertEqual(data, (b"", b""))
        self.assertEqual(fake.read_sizes, [])

    def test_read_error_is_oserror(self):
        def app(environ, start_response):
            try:
                environ["wsgi.input"].read()
            except OSError as error:
                message = str(error).encode()
            start_response("400 Bad Request", [])
            return [message]

        reason, fake = self.run_app(app, b"data", base_environ(CONTENT_LENGTH="4"),
                                    fail_read=True)
        self.assertIsNone(reason)
        self.assertEqual(fake.body_out,
                         b"request body could not be read: client went away while sending")


class EnvironTests(BridgeTestCase):
    def capture(self, environ):
        seen = {}

        def app(env, start_response):
            seen.update(env)
            start_response("200 OK", [])
            return []

        reason, _ = self.run_app(app, environ=environ)
        self.assertIsNone(reason)
        return seen

    def test_wsgi_keys(self):
        env = self.capture(base_environ(PATH_INFO="/caf\xc3\xa9", HTTP_ACCEPT="a, b"))
        self.assertEqual(env["wsgi.version"], (1, 0))
        self.assertIs(env["wsgi.multithread"], False)
        self.assertIs(env["wsgi.multiprocess"], True)
        self.assertIs(env["wsgi.run_once"], False)
        self.assertIs(env["wsgi.input_terminated"], True)
        self.assertEqual(env["wsgi.url_scheme"], "http")
        self.assertIs(env["wsgi.file_wrapper"], wsgi_bridge.file_wrapper.FileWrapper)
        self.assertEqual(env["PATH_INFO"], "/caf\xc3\xa9")
        self.assertEqual(env["HTTP_ACCEPT"], "a, b")

    def test_flags_from_host(self):
        env = self.capture(base_environ(**{"wsgi.run_once": "1", "wsgi.input_terminated": "1",
                                           "wsgi.url_scheme": "https"}))
        self.assertIs(env["wsgi.run_once"], True)
        self.assertIs(env["wsgi.input_terminated"], True)
        self.assertEqual(env["wsgi.url_scheme"], "https")
        env = self.capture(base_environ(CONTENT_LENGTH="0"))
        self.assertIs(env["wsgi.input_terminated"], True)

    def test_site_env_and_preload_applied(self):
        self.assertEqual(os.environ["UNIT_SITE_VAR"], "from config")
        self.assertIn("colorsys", sys.modules)
        self.assertIn("encodings.idna", sys.modules)

    def test_errors_stream_lines(self):
        def app(environ, start_response):
            errors = environ["wsgi.errors"]
            errors.write("one ")
            errors.write("line\ntwo\nthree")
            errors.writelines(["\n", "partial"])
            errors.flush()
            errors.write("left over")
            start_response("200 OK", [])
            return []

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.logs, ["one line\ntwo", "three", "partial", "left over"])

    def test_file_wrapper(self):
        class File(io.BytesIO):
            closes = 0

            def close(self):
                File.closes += 1
                super().close()

        data = os.urandom(200_000)

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return environ["wsgi.file_wrapper"](File(data), 50_000)

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.body_out, data)
        self.assertEqual(fake.kinds(), ["headers"] + ["write"] * 4)
        self.assertEqual(File.closes, 1)

    def test_file_wrapper_real_file_is_sent_by_the_host(self):
        data = os.urandom(100_000)
        with tempfile.NamedTemporaryFile(dir=site_files(), delete=False) as handle:
            handle.write(data)
        self.addCleanup(os.unlink, handle.name)
        opened = []

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            file = open(handle.name, "rb")
            file.seek(10)
            opened.append(file)
            return environ["wsgi.file_wrapper"](file)

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        self.assertEqual(fake.kinds(), ["headers", "file"])
        self.assertEqual(fake.body_out, data[10:])
        self.assertTrue(opened[0].closed, "close() closed the file")

    def test_file_wrapper_refused_file_is_iterated(self):
        # A file outside the site's folders (the fake refuses anything not in site_files()).
        path = os.path.abspath(__file__)

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return environ["wsgi.file_wrapper"](open(path, "rb"), 4096)

        reason, fake = self.run_app(app)
        self.assertIsNone(reason)
        with open(path, "rb") as file:
            self.assertEqual(fake.body_out, file.read())
        self.assertEqual(fake.kinds()[0], "headers")
        self.assertNotIn("file", fake.kinds())

    def test_state_does_not_leak_between_requests(self):
        def first(environ, start_response):
            start_response("200 OK", [])
            environ["wsgi.errors"].write("unterminated")
            return [b"1"]

        reason, fake = self.run_app(first)
        self.assertEqual(fake.logs, ["unterminated"])
        self.assertEqual(fake.kinds(), ["response", "log"])
        reason, fake = self.run_app(hello_app)
        self.assertIsNone(reason)
        self.assertEqual(fake.kinds(), ["response"])


class ValidatorTests(BridgeTestCase):
    """Apps wrapped in wsgiref.validate, with its warnings made errors, run cleanly."""

    def run_validated(self, app, body=b"", environ=None):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reason, fake = self.run_app(validator(app), body, environ)
        self.assertIsNone(reason, fake.logs)
        return fake

    def test_hello(self):
        fake = self.run_validated(hello_app)
        self.assertEqual(fake.body_out, b"hello\n")

    def test_write_and_generator(self):
        def app(environ, start_response):
            write = start_response("200 OK", [("Content-Type", "text/plain")])
            write(b"a")

            def rest():
                yield b"b"
                yield b"c"

            return rest()

        self.assertEqual(self.run_validated(app).body_out, b"abc")

    def test_input_and_errors(self):
        def app(environ, start_response):
            stream = environ["wsgi.input"]
            head = stream.readline()
            rest = stream.read(int(environ["CONTENT_LENGTH"]) - len(head))
            environ["wsgi.errors"].write("read %d bytes\n" % (len(head) + len(rest)))
            environ["wsgi.errors"].flush()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [rest, head]

        body = b"line one\nthe rest"
        fake = self.run_validated(app, body, base_environ(
            REQUEST_METHOD="POST", CONTENT_LENGTH=str(len(body)),
            CONTENT_TYPE="text/plain"))
        self.assertEqual(fake.body_out, b"the restline one\n")
        self.assertEqual(fake.logs, ["read 17 bytes"])

    def test_file_wrapper(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return environ["wsgi.file_wrapper"](io.BytesIO(b"file body"), 4)

        self.assertEqual(self.run_validated(app).body_out, b"file body")


class LoaderTests(unittest.TestCase):
    def load_with(self, **config):
        import wsgi_site_config

        with unittest.mock.patch.multiple(wsgi_site_config, **config):
            return wsgi_bridge.loader.load_site()

    def test_loads_callable(self):
        self.assertIs(self.load_with(CALLABLE="application"), fake_site.application)

    def test_missing_module(self):
        with self.assertRaisesRegex(wsgi_bridge.loader.SiteLoadError,
                                    "site 'unit': app module 'no_such_app' failed to import"):
            self.load_with(MODULE="no_such_app")

    def test_missing_callable(self):
        with self.assertRaisesRegex(wsgi_bridge.loader.SiteLoadError,
                                    "module 'fake_site' has no attribute 'app'"):
            self.load_with(CALLABLE="app")

    def test_not_callable(self):
        with self.assertRaisesRegex(wsgi_bridge.loader.SiteLoadError,
                                    "fake_site.not_callable is a int, not a WSGI callable"):
            self.load_with(CALLABLE="not_callable")

    def test_failing_site_preload(self):
        with self.assertRaisesRegex(wsgi_bridge.loader.SiteLoadError,
                                    "preload module 'no_such_preload' failed to import"):
            self.load_with(PRELOAD=["no_such_preload"])


if __name__ == "__main__":
    unittest.main()
