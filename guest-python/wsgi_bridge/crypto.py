"""`hashlib.pbkdf2_hmac` for a CPython built without OpenSSL, computed by the host.

The guest's CPython for WASI has no `_hashlib`, so `hashlib.pbkdf2_hmac` is missing and
Django's default password hasher (PBKDF2-HMAC-SHA256) fails. `install()` runs at build time,
before the site loads, and puts this module's `pbkdf2_hmac` in its place, only when the
runtime has none. It takes the same arguments, raises the same errors for bad ones and gives
the same bytes as CPython's; the derivation itself runs in the host (Rust, the `crypto`
interface of wit/wsgi.wit), at the iteration count the caller asks for.

Installing calls nothing in the host (host calls do not work while the build snapshots the
interpreter); the host is called only when `pbkdf2_hmac` is, during a request.
"""

import hashlib
import operator

from componentize_py_types import Err
from wit_world.imports import crypto as host_crypto

# Output sizes of the digests the host offers, by hashlib name: dklen=None means this.
DIGEST_SIZES = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}

# OpenSSL spellings CPython's pbkdf2_hmac accepts too.
_ALIASES = {
    "sha-1": "sha1",
    "sha-224": "sha224",
    "sha-256": "sha256",
    "sha-384": "sha384",
    "sha-512": "sha512",
    "sha2-224": "sha224",
    "sha2-256": "sha256",
    "sha2-384": "sha384",
    "sha2-512": "sha512",
}

_INT_MAX = 2**31 - 1


def _digest_name(hash_name):
    name = hash_name.lower()
    name = _ALIASES.get(name, name)
    if name not in DIGEST_SIZES:
        raise ValueError(f"unsupported hash type {hash_name}")
    return name


def _buffer(value):
    """The bytes of a bytes-like object (TypeError for str and other non-buffers)."""
    try:
        with memoryview(value) as view:
            return view.tobytes()
    except TypeError:
        raise TypeError(
            f"a bytes-like object is required, not '{type(value).__name__}'"
        ) from None


def pbkdf2_hmac(hash_name, password, salt, iterations, dklen=None):
    """Password based key derivation function 2 (PKCS #5 v2.0) with HMAC as pseudorandom function."""
    if not isinstance(hash_name, str):
        raise TypeError(
            f"pbkdf2_hmac() argument 'hash_name' must be str, not {type(hash_name).__name__}"
        )
    password = _buffer(password)
    salt = _buffer(salt)
    iterations = operator.index(iterations)
    name = _digest_name(hash_name)
    if iterations < 1:
        raise ValueError("iteration value must be greater than 0.")
    if iterations > _INT_MAX:
        raise OverflowError("iteration value is too great.")
    if dklen is None:
        dklen = DIGEST_SIZES[name]
    else:
        dklen = operator.index(dklen)
    if dklen < 1:
        raise ValueError("key length must be greater than 0.")
    if dklen > _INT_MAX:
        raise OverflowError("key length is too great.")
    try:
        return bytes(host_crypto.pbkdf2_hmac(name, password, salt, iterations, dklen))
    except Err as refused:
        # The host's bounds (iterations, dklen, salt size) are tighter than CPython's.
        raise ValueError(f"pbkdf2_hmac: {refused.value}") from None


def install():
    """Makes `hashlib.pbkdf2_hmac` this module's function when the runtime has none.

    Returns True when it installed it. Calls nothing in the host.
    """
    if hasattr(hashlib, "pbkdf2_hmac"):
        return False
    hashlib.pbkdf2_hmac = pbkdf2_hmac
    if "pbkdf2_hmac" not in hashlib.__all__:
        hashlib.__all__ = tuple(hashlib.__all__) + ("pbkdf2_hmac",)
    return True
