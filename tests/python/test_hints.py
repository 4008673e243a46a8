"""Unit tests of wsgi_bridge.hints, loaded alone (it needs no bindings), run natively.

The finder is put on `sys.meta_path` only while each test runs; the guest's missing modules
are simulated with names no interpreter has. The whole path (a real guest, real imports,
the hint in the server log) is tested over HTTP in host/tests/build_errors.rs.

Run with: python3 -m unittest discover -s tests/python -v
"""

import importlib.util
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "wsgi_bridge_hints_under_test", ROOT / "guest-python/wsgi_bridge/hints.py"
)
hints = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hints)

NATIVE = {
    "wwfast": ("ww-fast", "wwfast.cpython-314-x86_64-linux-gnu.so"),
    "wwpkg._core": ("WW-Pkg", "wwpkg/_core.abi3.so"),
}


class FinderTests(unittest.TestCase):
    def setUp(self):
        self.finder = hints.SandboxFinder(NATIVE)
        self.stdlib = dict(hints.STDLIB)
        hints.STDLIB["_wwssl"] = ("ssl", "the guest has no OpenSSL")
        sys.meta_path.append(self.finder)

    def tearDown(self):
        sys.meta_path.remove(self.finder)
        hints.STDLIB.clear()
        hints.STDLIB.update(self.stdlib)

    def test_native_import_names_package_and_file(self):
        with self.assertRaises(ModuleNotFoundError) as caught:
            import wwfast  # noqa: F401
        self.assertEqual(caught.exception.name, "wwfast")
        self.assertEqual(
            str(caught.exception),
            "No module named 'wwfast': package `ww-fast` needs the native extension "
            "`wwfast.cpython-314-x86_64-linux-gnu.so`, which has no WebAssembly build; "
            "use a pure-Python alternative",
        )

    def test_stdlib_import_has_a_hint_and_stays_an_import_error(self):
        try:
            import _wwssl  # noqa: F401
        except ImportError as exc:
            self.assertIs(type(exc), ModuleNotFoundError)
            self.assertEqual(exc.name, "_wwssl")
            self.assertIn("ssl is not available in the wsgi-wasm sandbox", str(exc))
        else:
            self.fail("the import succeeded")

    def test_probes_get_none(self):
        self.assertIsNone(importlib.util.find_spec("wwfast"))
        self.assertIsNone(importlib.util.find_spec("_wwssl"))

    def test_other_missing_modules_are_left_alone(self):
        with self.assertRaises(ModuleNotFoundError) as caught:
            import wwnothing  # noqa: F401
        self.assertEqual(str(caught.exception), "No module named 'wwnothing'")

    def test_real_modules_still_load(self):
        import colorsys

        self.assertTrue(hasattr(colorsys, "rgb_to_hsv"))


class ThreadTests(unittest.TestCase):
    def test_a_failed_start_gets_the_hint(self):
        def start(function, *args, **kwargs):
            raise RuntimeError("can't start new thread")

        starter = hints._explain_threads(start)
        with self.assertRaises(RuntimeError) as caught:
            starter(print, handle=None, daemon=True)
        self.assertEqual(
            str(caught.exception), "can't start new thread: " + hints.THREADS
        )
        self.assertIs(starter.__wrapped__, start)

    def test_a_working_start_is_untouched(self):
        calls = []
        starter = hints._explain_threads(lambda *a, **k: calls.append((a, k)) or 7)
        self.assertEqual(starter(1, daemon=True), 7)
        self.assertEqual(calls, [((1,), {"daemon": True})])


if __name__ == "__main__":
    unittest.main()
