"""The sandbox user: `os.getuid` and friends, and the `pwd` and `grp` lookups, with fixed values.

CPython's WASI build has neither (WASI has no users), yet frameworks take them for granted:
setuptools' `pkg_resources` (through its bundled platformdirs) calls `os.getuid()` at import,
`getpass.getuser()` and `os.path.expanduser("~")` look the user up. Every guest is one user,
the same in every site and on every server, so the values are constants (docs/python.md,
"The sandbox user"):

    user `wsgi`, uid 1000, group `wsgi`, gid 1000, home `/tmp`, shell `/sbin/nologin`

`/tmp` is the home because it is the one folder every guest may write (its own, per instance).
Nothing here is a permission: the host never asks the guest who it is.
"""

import os
import sys
import types
from collections import namedtuple
from importlib.machinery import ModuleSpec

NAME = "wsgi"
UID = 1000
GID = 1000
HOME = "/tmp"
SHELL = "/sbin/nologin"
GECOS = "wsgi-wasm sandbox user"

_ORIGIN = "wsgi-wasm sandbox"


def _struct(name, fields, doc):
    """A `pwd.struct_passwd`-like record: fields by name and by index, as CPython's."""
    record = namedtuple(name, fields)
    record.__doc__ = doc
    return record


struct_passwd = _struct(
    "struct_passwd",
    "pw_name pw_passwd pw_uid pw_gid pw_gecos pw_dir pw_shell",
    "pwd.struct_passwd: one entry of the user database",
)
struct_group = _struct(
    "struct_group",
    "gr_name gr_passwd gr_gid gr_mem",
    "grp.struct_group: one entry of the group database",
)

PASSWD = struct_passwd(NAME, "x", UID, GID, GECOS, HOME, SHELL)
GROUP = struct_group(NAME, "x", GID, [NAME])


def _index(value, what):
    """`value` as an id the way CPython's lookups take it: an int (or `__index__`)."""
    try:
        return value.__index__()
    except AttributeError:
        raise TypeError(f"{what} should be integer, not {type(value).__name__}") from None


def getpwuid(uid):
    if _index(uid, "uid") != UID:
        raise KeyError(f"getpwuid(): uid not found: {uid}")
    return PASSWD


def getpwnam(name):
    if not isinstance(name, str):
        raise TypeError(f"getpwnam() argument must be str, not {type(name).__name__}")
    if name != NAME:
        raise KeyError(f"getpwnam(): name not found: {name!r}")
    return PASSWD


def getpwall():
    return [PASSWD]


def getgrgid(gid):
    if _index(gid, "group id") != GID:
        raise KeyError(f"getgrgid(): gid not found: {gid}")
    return GROUP


def getgrnam(name):
    if not isinstance(name, str):
        raise TypeError(f"getgrnam() argument must be str, not {type(name).__name__}")
    if name != NAME:
        raise KeyError(f"getgrnam(): name not found: {name!r}")
    return GROUP


def getgrall():
    return [GROUP]


def _module(name, doc, **members):
    module = types.ModuleType(name, doc)
    module.__spec__ = ModuleSpec(name, None, origin=_ORIGIN)
    module.__file__ = None
    for key, value in members.items():
        setattr(module, key, value)
    return module


def install():
    """Adds the ids to `os` and the `pwd`/`grp` modules, where the guest's CPython lacks them.

    A CPython that has them (the host's, in the bridge's unit tests) keeps its own."""
    for name, value in (("getuid", UID), ("geteuid", UID), ("getgid", GID), ("getegid", GID)):
        if not hasattr(os, name):
            setattr(os, name, _constant(name, value))
    if not hasattr(os, "getgroups"):
        os.getgroups = _constant("getgroups", [GID], copy=True)
    for name, module in (("pwd", _pwd()), ("grp", _grp())):
        if name not in sys.modules:
            try:
                __import__(name)
            except ImportError:
                sys.modules[name] = module


def _constant(name, value, copy=False):
    def constant():
        return list(value) if copy else value

    constant.__name__ = constant.__qualname__ = name
    constant.__doc__ = f"os.{name}() of the wsgi-wasm sandbox user (constant)."
    return constant


def _pwd():
    return _module(
        "pwd",
        "The user database of the wsgi-wasm sandbox: one user, `wsgi`.",
        struct_passwd=struct_passwd,
        getpwuid=getpwuid,
        getpwnam=getpwnam,
        getpwall=getpwall,
    )


def _grp():
    return _module(
        "grp",
        "The group database of the wsgi-wasm sandbox: one group, `wsgi`.",
        struct_group=struct_group,
        getgrgid=getgrgid,
        getgrnam=getgrnam,
        getgrall=getgrall,
    )
