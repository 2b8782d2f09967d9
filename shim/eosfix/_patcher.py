"""Install and remove eosfix's wrappers on one target's class (see ``eosfix.targets``).

State lives in the classes themselves: a method is patched when the attribute
in its owner's ``vars()`` is, or wraps, an enabled :class:`EOSLabelWrapper`.
There is no flag that could disagree with what callers actually run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import wrapt

from eosfix._log import logger
from eosfix._versions import in_range, release


class _Switch:
    """The ``enabled`` callable of one wrapper: off when it had to stay in place."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = True

    def __call__(self) -> bool:
        return self.on


class _BoundEOSLabelWrapper(wrapt.BoundFunctionWrapper):
    """A patched method bound to an instance (``collator.torch_call``) or reached through a class.

    wrapt's proxies refuse to be copied or pickled, but a DataLoader with
    ``num_workers`` under spawn pickles ``collate_fn=collator.torch_call``. A
    stock bound method pickles as ``getattr(instance, name)``; this one does
    the same, so the receiving process gets whatever that attribute is there
    (eosfix's wrapper when it patched itself at start, else the stock method).
    """

    def _self_target(self) -> object:
        return self._self_owner if self._self_instance is None else self._self_instance

    def __reduce_ex__(self, protocol: object) -> tuple:
        return getattr, (self._self_target(), self._self_parent._self_name)

    def __copy__(self) -> object:
        return getattr(self._self_target(), self._self_parent._self_name)

    def __deepcopy__(self, memo: dict) -> object:
        # As for a stock method: deep-copy the instance; a function (reached through the class) is not copied.
        if self._self_instance is None:
            return self
        import copy

        return getattr(copy.deepcopy(self._self_instance, memo), self._self_parent._self_name)


class EOSLabelWrapper(wrapt.FunctionWrapper):
    """eosfix's wrapper; the type is how eosfix recognises its own work."""

    __bound_function_wrapper__ = _BoundEOSLabelWrapper

    def __init__(self, wrapped: Callable, wrapper: Callable, name: str | None = None) -> None:
        switch = _Switch()
        super().__init__(wrapped, wrapper, enabled=switch)
        self._self_switch = switch
        # The attribute it is installed as, which bound copies and pickles look up again.
        self._self_name = name or wrapped.__name__


def _owner(cls: type, name: str) -> type | None:
    # vars() along the MRO, never getattr on the class: that would bind, and
    # would not say which class to put the wrapper on.
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def _find_ours(attribute: object) -> tuple[EOSLabelWrapper | None, int | None]:
    """Return ``(our_wrapper, depth)`` along the ``__wrapped__`` chain, or ``(None, None)``."""
    depth = 0
    while isinstance(attribute, wrapt.FunctionWrapper):
        if isinstance(attribute, EOSLabelWrapper):
            return attribute, depth
        attribute = attribute.__wrapped__
        depth += 1
    return None, None


def _methods(target: ModuleType, module: ModuleType) -> Iterator[tuple[type, str, Callable]]:
    """Yield ``(owner, name, wrapper_function)`` for each method the installed version has."""
    cls = getattr(module, target.CLASS)
    for name, wrapper in target.METHODS.items():
        owner = _owner(cls, name)
        if owner is not None:
            yield owner, name, wrapper


# (module, version) pairs already warned about, so each is reported once.
_warned: set[tuple[str, str | None]] = set()


def imported_version(target: ModuleType) -> str | None:
    """The ``__version__`` of the target's distribution as imported in this process (no metadata read)."""
    return getattr(sys.modules.get(target.DISTRIBUTION), "__version__", None)


def fixed_upstream(target: ModuleType) -> bool:
    """True when the installed version is at or past the target's ``FIXED_FROM`` release."""
    fixed_from = getattr(target, "FIXED_FROM", None)
    version = imported_version(target)
    return bool(fixed_from and version and release(version) >= release(fixed_from))


def supports(target: ModuleType, module: ModuleType) -> bool:
    """True when the installed version is known, or still has the known code shape."""
    version = imported_version(target)
    if fixed_upstream(target):
        logger().debug(
            "eosfix: %s %s fixed %s upstream; leaving it alone.", target.DISTRIBUTION, version, target.CLASS
        )
        return False
    if in_range(version, target.SUPPORTED):
        return True
    if all(target.has_known_shape(vars(owner)[name]) for owner, name, _ in _methods(target, module)):
        logger().info(
            "eosfix: %s %s is outside the tested range %s, but %s still has the known shape; patching it.",
            target.DISTRIBUTION,
            version,
            target.SUPPORTED,
            target.CLASS,
        )
        return True
    if (module.__name__, version) in _warned:
        return False
    _warned.add((module.__name__, version))
    logger().warning(
        "eosfix: %s %s is outside the range eosfix knows (%s) and %s.%s no longer masks labels the way "
        "eosfix expects, so eosfix left it unpatched. Check your EOS labels with `eosfix doctor`, and "
        "look for an eosfix release that supports this version.",
        target.DISTRIBUTION,
        version,
        target.SUPPORTED,
        module.__name__,
        target.CLASS,
    )
    return False


def is_patched(target: ModuleType, module: ModuleType) -> bool:
    methods = list(_methods(target, module))
    if not methods:
        return False
    for owner, name, _ in methods:
        ours, _depth = _find_ours(vars(owner)[name])
        if ours is None or not ours._self_switch.on:
            return False
    return True


def patch(target: ModuleType, module: ModuleType) -> bool:
    """Wrap every method of the target once; return whether the target is patched."""
    if not supports(target, module):
        return False
    for owner, name, wrapper in _methods(target, module):
        ours, _depth = _find_ours(vars(owner)[name])
        if ours is not None:
            # Already there (maybe under someone else's wrapper): switch it back on.
            ours._self_switch.on = True
            continue
        setattr(owner, name, EOSLabelWrapper(vars(owner)[name], wrapper, name))
    return is_patched(target, module)


def unpatch(target: ModuleType, module: ModuleType) -> None:
    """Remove eosfix's wrappers, putting back the exact original functions.

    Where another wrapper was installed on top of eosfix's, removing ours would
    remove that one too; ours is switched off instead, and a warning says so.
    """
    for owner, name, _ in _methods(target, module):
        ours, depth = _find_ours(vars(owner)[name])
        if ours is None:
            continue
        if depth == 0:
            setattr(owner, name, ours.__wrapped__)
        else:
            ours._self_switch.on = False
            logger().warning(
                "eosfix: another wrapper sits on top of eosfix's on %s.%s, so eosfix switched its wrapper "
                "off instead of removing it; the label fix is no longer active there.",
                owner.__qualname__,
                name,
            )
