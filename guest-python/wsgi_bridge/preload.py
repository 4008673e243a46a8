"""Build time, before the site loads: standard-library modules to import into the snapshot.

Web frameworks import many of these lazily (inside a function, on the first request that
needs them). Importing them at build time puts them in the interpreter snapshot, so no
request pays for it. Each must exist in CPython's WASI build; one that does not is skipped.
"""

DEFAULT_PRELOAD = (
    # Codecs looked up by name at run time: str.encode("idna"), charsets named in headers.
    "encodings.idna",
    "encodings.punycode",
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.utf_8",
    "encodings.utf_8_sig",
    "encodings.utf_16",
    "encodings.utf_32",
    "encodings.cp1252",
    "encodings.unicode_escape",
    "encodings.raw_unicode_escape",
    "encodings.base64_codec",
    # Header, form and multipart parsing.
    "email.parser",
    "email.feedparser",
    "email.message",
    "email.policy",
    "email.utils",
    "email.header",
    "email.headerregistry",
    "email.charset",
    "email.encoders",
    "email.base64mime",
    "email.quoprimime",
    # Web plumbing and data formats.
    "json",
    "http",
    "http.cookies",
    "urllib.parse",
    "mimetypes",
    "html",
    "base64",
    "binascii",
    "zlib",
    "gzip",
    "tempfile",
    "wsgiref.headers",
    "wsgiref.util",
    # Hashing, signing, identifiers.
    "hashlib",
    "hmac",
    "secrets",
    "uuid",
    # Numbers, dates, locale.
    "datetime",
    "_strptime",
    "calendar",
    "zoneinfo",
    "decimal",
    "locale",
    # What error handling reaches for.
    "logging",
    "traceback",
)
