"""The working directory: the site's code folder, as gunicorn's `--chdir` and mod_wsgi's
`home=` give, so that `open("data.txt")` next to the app works.

The code folder is the python-path folder the app module is found in (`/1` for a site whose
`python_path` is `["."]`; the bridge is `/0`). The loader moves there before it imports the
app, so imports at build time see it too; the snapshot keeps it, so every instance starts
there; and each request starts there again (`restore`), whatever the one before it did with
`os.chdir`. WASI keeps the working directory inside the guest's libc: `os.getcwd()` costs no
call to the host, so a request that did not move pays nothing.
"""

import importlib.util
import os
import sys

_home = None


def code_folder(module_name):
    """The `sys.path` folder that holds the top-level package (or module) of `module_name`,
    or `None` when it is not found in a folder (a built-in, a zip)."""
    top = module_name.partition(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    places = list(spec.submodule_search_locations or []) if spec.origin is None else [spec.origin]
    folders = sorted(
        (entry for entry in sys.path if entry and os.path.isdir(entry)),
        key=len,
        reverse=True,
    )
    for place in places:
        for folder in folders:
            if place.startswith(folder.rstrip("/") + "/"):
                return folder
    return None


def enter(module_name):
    """Moves to the code folder of `module_name` and keeps it as the requests' start."""
    global _home
    folder = code_folder(module_name)
    if folder is None:
        return None
    os.chdir(folder)
    _home = os.getcwd()
    return _home


def restore():
    """At the start of a request: back to the code folder if the last request left it."""
    if _home is not None and os.getcwd() != _home:
        try:
            os.chdir(_home)
        except OSError:
            pass
