"""Patches applied to a standard-library module right after it is first imported.

Some sandbox fixes belong to modules most requests never import (`asyncio`, `subprocess`,
`multiprocessing`): importing them at build time to patch them would put them in every
site's snapshot. Instead a finder at the front of `sys.meta_path` lets the real finders find
the module, wraps its loader, and runs the patch once the module's code has run. A module
already imported when `register` is called is patched at once. The module is the real one,
found and executed as it would be: only the patched functions differ.
"""

import sys

_patches = {}


class _PatchingLoader:
    """The module's own loader, then the patch."""

    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name):  # get_code, get_source, is_package, resource readers
        return getattr(self._loader, name)


class AfterImportFinder:
    """The first finder on `sys.meta_path`; answers only for modules with a patch."""

    def find_spec(self, fullname, path=None, target=None):
        patch = _patches.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if isinstance(finder, AfterImportFinder):
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader, patch)
        return spec

    def invalidate_caches(self):
        pass


def register(name, patch):
    """Runs `patch(module)` once module `name` is imported (now, if it already is)."""
    _patches[name] = patch
    if not any(isinstance(f, AfterImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, AfterImportFinder())
    module = sys.modules.get(name)
    if module is not None:
        patch(module)
