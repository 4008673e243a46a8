"""Unit tests of wsgi_bridge.crypto, the `hashlib.pbkdf2_hmac` the bridge installs in a guest
whose CPython has none, run natively: the host's `crypto.pbkdf2-hmac` is replaced by the
native CPython's own `hashlib.pbkdf2_hmac` (OpenSSL), so these tests check that the wrapper
takes and refuses arguments exactly as CPython does and passes the right ones to the host.
The host's arithmetic is tested in Rust (host/src/wsgi/crypto.rs) and end to end by the
Django site (host/tests/django.rs).

Run with: python3 -m unittest discover -s tests/python -v
"""

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import types
import unittest
import unittest.mock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_bridge  # noqa: E402  (the componentize-py lookup)

ROOT = Path(__file__).resolve().parents[2]
NATIVE = hashlib.pbkdf2_hmac

Err = None
crypto = None
host_crypto = None
_tempdir = None


def setUpModule():
    global Err, crypto, host_crypto, _tempdir
    tool = test_bridge._componentize_py()
    if tool is None:
        raise unittest.SkipTest("componentize-py not found (see test_bridge.py)")
    _tempdir = tempfile.TemporaryDirectory()
    base = Path(_tempdir.name)
    (base / "venv").mkdir()
    subprocess.run(
        [tool, "-d", str(ROOT / "wit"), "-w", "wsgi", "bindings", str(base / "bindings")],
        check=True,
        capture_output=True,
        env={**os.environ, "VIRTUAL_ENV": str(base / "venv")},
    )
    if str(base / "bindings") not in sys.path:
        sys.path.insert(0, str(base / "bindings"))
    import componentize_py_types
    import wit_world.imports.crypto as host_module

    # The module alone: importing the wsgi_bridge package would load a site.
    spec = importlib.util.spec_from_file_location(
        "wsgi_bridge_crypto", ROOT / "guest-python/wsgi_bridge/crypto.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    Err = componentize_py_types.Err
    crypto = module
    host_crypto = host_module


def tearDownModule():
    if _tempdir is not None:
        _tempdir.cleanup()


class FakeHost:
    """The host's pbkdf2-hmac, computed by the native CPython; records every call."""

    def __init__(self, refuse=None):
        self.calls = []
        self.refuse = refuse

    def pbkdf2_hmac(self, name, password, salt, iterations, dklen):
        self.calls.append((name, password, salt, iterations, dklen))
        if self.refuse:
            raise Err(self.refuse)
        return NATIVE(name, password, salt, iterations, dklen)


class CryptoTestCase(unittest.TestCase):
    def setUp(self):
        self.host = FakeHost()
        patcher = unittest.mock.patch.object(
            host_crypto, "pbkdf2_hmac", self.host.pbkdf2_hmac
        )
        patcher.start()
        self.addCleanup(patcher.stop)
        self.derive = crypto.pbkdf2_hmac

    def assertSameAsNative(self, *args, **kwargs):
        self.assertEqual(self.derive(*args, **kwargs), NATIVE(*args, **kwargs), (args, kwargs))

    def assertSameError(self, *args, **kwargs):
        """Both raise; TypeError and OverflowError alike, ValueError (or a subclass) alike."""
        with self.assertRaises(Exception) as native:
            NATIVE(*args, **kwargs)
        with self.assertRaises(Exception) as ours:
            self.derive(*args, **kwargs)
        if isinstance(native.exception, ValueError):
            self.assertIsInstance(ours.exception, ValueError, (args, kwargs))
        else:
            self.assertIs(type(ours.exception), type(native.exception), (args, kwargs))


class ResultsTest(CryptoTestCase):
    def test_results_match_cpython(self):
        for name in ("sha1", "sha224", "sha256", "sha384", "sha512", "SHA256", "sha-512"):
            self.assertSameAsNative(name, b"password", b"salt", 3)
            self.assertSameAsNative(name, b"password", b"salt", 3, 7)
            self.assertSameAsNative(name, b"password", b"salt", 3, dklen=100)
            self.assertSameAsNative(name, b"", b"", 1, None)

    def test_bytes_like_arguments_are_accepted(self):
        self.assertSameAsNative("sha256", bytearray(b"pw"), memoryview(b"salt"), 2)
        self.assertSameAsNative("sha256", memoryview(b"xpwx")[1:3], b"salt", 2)
        import array

        self.assertSameAsNative("sha256", array.array("I", [1, 2]), b"salt", 2)

    def test_dklen_none_is_the_digest_size(self):
        for name, size in crypto.DIGEST_SIZES.items():
            self.assertEqual(len(self.derive(name, b"pw", b"salt", 1)), size)
        self.assertEqual(self.host.calls[-1], ("sha512", b"pw", b"salt", 1, 64))

    def test_the_host_gets_the_canonical_name_and_plain_bytes(self):
        self.derive("SHA2-256", bytearray(b"pw"), memoryview(b"salt"), 5, 10)
        name, password, salt, iterations, dklen = self.host.calls[-1]
        self.assertEqual((name, iterations, dklen), ("sha256", 5, 10))
        self.assertIs(type(password), bytes)
        self.assertIs(type(salt), bytes)

    def test_result_is_bytes(self):
        self.assertIs(type(self.derive("sha1", b"pw", b"salt", 1)), bytes)


class ErrorsTest(CryptoTestCase):
    def test_bad_arguments_raise_as_in_cpython(self):
        cases = [
            ("sha256", "text password", b"salt", 1),
            ("sha256", b"pw", "text salt", 1),
            ("sha256", b"pw", b"salt", 1.5),
            ("sha256", b"pw", b"salt", "1"),
            ("sha256", b"pw", b"salt", 0),
            ("sha256", b"pw", b"salt", -3),
            ("sha256", b"pw", b"salt", 2**31),
            ("sha256", b"pw", b"salt", 1, 0),
            ("sha256", b"pw", b"salt", 1, -1),
            ("sha256", b"pw", b"salt", 1, 1.0),
            ("sha256", b"pw", b"salt", 1, 2**31),
            ("no-such-hash", b"pw", b"salt", 1),
            (b"sha256", b"pw", b"salt", 1),
            (None, b"pw", b"salt", 1),
        ]
        for args in cases:
            with self.subTest(args=args):
                self.assertSameError(*args)
        self.assertEqual(self.host.calls, [], "no bad argument reaches the host")

    def test_messages_match_cpython(self):
        for args in [
            ("sha256", b"pw", b"salt", 0),
            ("sha256", b"pw", b"salt", 1, 0),
            ("sha256", "pw", b"salt", 1),
        ]:
            with self.subTest(args=args):
                with self.assertRaises(Exception) as native:
                    NATIVE(*args)
                with self.assertRaises(Exception) as ours:
                    self.derive(*args)
                self.assertEqual(str(ours.exception), str(native.exception))

    def test_unsupported_digest_is_a_value_error_naming_it(self):
        with self.assertRaisesRegex(ValueError, "unsupported hash type md5"):
            self.derive("md5", b"pw", b"salt", 1)

    def test_a_host_refusal_is_a_value_error_with_its_reason(self):
        self.host.refuse = "iteration value 20000000 is too great for a key of 1 block(s)"
        with self.assertRaises(ValueError) as raised:
            self.derive("sha256", b"pw", b"salt", 20_000_000)
        self.assertIn("too great for a key of 1 block(s)", str(raised.exception))
        self.assertEqual(len(self.host.calls), 1)


class ScryptTest(unittest.TestCase):
    """The guest's `hashlib.scrypt` against the native one, with the host's scrypt played by
    the native CPython (the host's own results are checked in Rust and over HTTP)."""

    def setUp(self):
        self.calls = []

        def host_scrypt(password, salt, cost):
            self.calls.append(cost)
            return hashlib.scrypt(
                password, salt=salt, n=cost.n, r=cost.r, p=cost.p,
                maxmem=cost.maxmem, dklen=cost.dklen,
            )

        patcher = unittest.mock.patch.object(host_crypto, "scrypt", host_scrypt)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_results_are_the_native_ones(self):
        for kwargs in (
            dict(salt=b"NaCl", n=1024, r=8, p=16),
            dict(salt=bytearray(b"s"), n=16, r=1, p=1, dklen=20),
            dict(salt=memoryview(b"salt"), n=2**14, r=8, p=1, maxmem=64 * 1024 * 1024),
        ):
            self.assertEqual(
                crypto.scrypt(b"password", **kwargs), hashlib.scrypt(b"password", **kwargs)
            )

    def test_bad_arguments_fail_as_natively_before_the_host_is_called(self):
        for args, kwargs in (
            (("pw",), dict(salt=b"s", n=16, r=1, p=1)),
            ((b"pw",), dict(salt="s", n=16, r=1, p=1)),
            ((b"pw",), dict(salt=b"s", n=1000, r=1, p=1)),
            ((b"pw",), dict(salt=b"s", n=1, r=1, p=1)),
            ((b"pw",), dict(salt=b"s", n=16, r=1, p=1, dklen=0)),
            ((b"pw",), dict(salt=b"s", n=16, r=1, p=1, maxmem=-1)),
            ((b"pw",), dict(salt=b"s", n=16.0, r=1, p=1)),
        ):
            with self.assertRaises(Exception) as native:
                hashlib.scrypt(*args, **kwargs)
            with self.assertRaises(type(native.exception)) as ours:
                crypto.scrypt(*args, **kwargs)
            if isinstance(native.exception, ValueError):
                self.assertEqual(str(ours.exception), str(native.exception))
        self.assertEqual(self.calls, [])
        with self.assertRaises(TypeError):
            crypto.scrypt(b"pw", b"s", 16, 1, 1)  # salt and the costs are keyword-only

    def test_a_host_refusal_is_a_value_error_with_its_reason(self):
        def refuse(password, salt, cost):
            raise Err("n, r and p ask for 1 bytes of memory")

        with unittest.mock.patch.object(host_crypto, "scrypt", refuse):
            with self.assertRaisesRegex(ValueError, "^n, r and p ask for 1 bytes of memory$"):
                crypto.scrypt(b"pw", salt=b"s", n=16, r=1, p=1)


class InstallTest(unittest.TestCase):
    def test_install_adds_the_functions_only_when_missing(self):
        fake = types.ModuleType("hashlib")
        fake.__all__ = ("md5", "sha256")
        with unittest.mock.patch.object(crypto, "hashlib", fake):
            self.assertEqual(crypto.install(), ["pbkdf2_hmac", "scrypt"])
            self.assertIs(fake.pbkdf2_hmac, crypto.pbkdf2_hmac)
            self.assertIs(fake.scrypt, crypto.scrypt)
            self.assertIn("pbkdf2_hmac", fake.__all__)
            self.assertIn("scrypt", fake.__all__)
            self.assertEqual(crypto.install(), [], "a second install changes nothing")
            self.assertEqual(fake.__all__.count("pbkdf2_hmac"), 1)

    def test_install_keeps_a_native_pbkdf2_hmac_and_scrypt(self):
        self.assertEqual(crypto.install(), [])
        self.assertIs(hashlib.pbkdf2_hmac, NATIVE)

    def test_install_calls_nothing_in_the_host(self):
        fake = types.ModuleType("hashlib")
        fake.__all__ = ()

        def refuse(*args):
            raise AssertionError("the host was called while installing")

        with unittest.mock.patch.object(crypto, "hashlib", fake), unittest.mock.patch.object(
            host_crypto, "pbkdf2_hmac", refuse
        ), unittest.mock.patch.object(host_crypto, "scrypt", refuse):
            crypto.install()


if __name__ == "__main__":
    unittest.main()
