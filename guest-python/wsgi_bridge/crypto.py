"""`hashlib.pbkdf2_hmac` and `hashlib.scrypt` for a CPython built without OpenSSL, computed
by the host.

The guest's CPython for WASI has no `_hashlib`, so both are missing: Django's default
password hasher (PBKDF2-HMAC-SHA256) and Werkzeug's (`generate_password_hash`, scrypt) fail.
`install()` runs at build time, before the site loads, and puts this module's functions in
their place, only when the runtime has none. They take the same arguments, raise the same
errors for bad ones and give the same bytes as CPython's; the derivation itself runs in the
host (Rust, the `crypto` interface of wit/wsgi.wit), at the cost the caller asks for, within
the host's bounds.

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


_UINT32_MAX = 2**32 - 1


def scrypt(password, *, salt, n, r, p, maxmem=0, dklen=64):
    """scrypt password-based key derivation function."""
    password = _buffer(password)
    salt = _buffer(salt)
    n, r, p = operator.index(n), operator.index(r), operator.index(p)
    maxmem, dklen = operator.index(maxmem), operator.index(dklen)
    if n < 2 or n & (n - 1):
        raise ValueError("n must be a power of 2.")
    if r < 0 or p < 0:
        raise OverflowError("can't convert negative int to unsigned")
    if maxmem < 0 or maxmem > _INT_MAX:
        raise ValueError(f"maxmem must be positive and smaller than {_INT_MAX}")
    if dklen < 1 or dklen > _INT_MAX:
        raise ValueError(f"dklen must be greater than 0 and smaller than {_INT_MAX}")
    if n > 2**64 - 1 or r > _UINT32_MAX or p > _UINT32_MAX:
        raise ValueError("Invalid parameter combination for n, r, p, maxmem.")
    cost = host_crypto.ScryptCost(n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)
    try:
        return bytes(host_crypto.scrypt(password, salt, cost))
    except Err as refused:
        # CPython's (OpenSSL's) refusals, word for word, and the host's tighter bounds.
        raise ValueError(refused.value) from None


def install():
    """Makes `hashlib.pbkdf2_hmac` and `hashlib.scrypt` this module's functions where the
    runtime has none.

    Returns the names it installed. Calls nothing in the host.
    """
    installed = []
    for name, function in (("pbkdf2_hmac", pbkdf2_hmac), ("scrypt", scrypt)):
        if hasattr(hashlib, name):
            continue
        setattr(hashlib, name, function)
        if name not in hashlib.__all__:
            hashlib.__all__ = tuple(hashlib.__all__) + (name,)
        installed.append(name)
    return installed
