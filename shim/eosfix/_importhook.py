"""A post-import hook: run a function right after a named module has been imported.

wrapt offers the same (``wrapt.register_post_import_hook``), but importing
wrapt costs 20-70 ms (wrapt 2.x pulls in asyncio), paid by every program that
does ``import eosfix.autopatch`` whether or not it ever imports transformers.
This finder uses only ``sys``, so the cost is paid when the patched module is
imported, next to the cost of importing transformers itself. It works as
wrapt's does: a finder at the front of ``sys.meta_path`` lets the other
finders locate the module, then wraps the loader so the hooks run once the
module's code has executed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing it would cost the start-up hook
    from importlib.machinery import ModuleSpec

Hook = Callable[[ModuleType], None]

_hooks: dict[str, list[Hook]] = {}  # module name -> hooks taking the module
_finder: _PostImportFinder | None = None


def when_imported(name: str, hook: Hook) -> None:
    """Call ``hook(module)`` once ``name`` is imported; at once if it already is.

    Registering the same hook twice for a name has no further effect. The hook
    stays registered, so a module imported anew (after removal from
    ``sys.modules``) runs it again.
    """
    global _finder
    hooks = _hooks.setdefault(name, [])
    if hook not in hooks:
        hooks.append(hook)
    if _finder is None:
        _finder = _PostImportFinder()
        sys.meta_path.insert(0, _finder)
    module = sys.modules.get(name)
    if module is not None:
        hook(module)


def discard(name: str, hook: Hook) -> None:
    """Unregister ``hook`` for ``name``; no error when it was not registered."""
    hooks = _hooks.get(name, [])
    if hook in hooks:
        hooks.remove(hook)


def _run_hooks(module: ModuleType) -> None:
    for hook in list(_hooks.get(module.__name__, ())):
        hook(module)


class _HookedLoader:
    """Delegates to the real loader, then runs the hooks for the module."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        # Put the real loader back so that introspection and reload see it.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        _run_hooks(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PostImportFinder:
    """Meta path finder that only intercepts modules with registered hooks."""

    def __init__(self) -> None:
        self._searching: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if not _hooks.get(fullname) or fullname in self._searching:
            return None
        # Ask the other finders (this one steps aside while they answer).
        self._searching.add(fullname)
        try:
            import importlib.util

            spec = importlib.util.find_spec(fullname)
        finally:
            self._searching.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _HookedLoader(spec.loader)  # type: ignore[assignment]  # a loader by protocol
        return spec
