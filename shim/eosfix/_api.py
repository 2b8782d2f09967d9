"""The public switch: apply(), revert(), is_applied(), patched(), unpatched().

Nothing here imports wrapt, torch, numpy or transformers. When a target's
module is not imported yet, apply() registers a post-import hook and the patch
happens when the program imports it; the wrapt-based patcher is imported only
then.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Literal

from eosfix import _importhook
from eosfix._log import logger
from eosfix.environment_variables import EOSFIX_AUTOPATCH, audit_mode, autopatch_by_env, disabled_by_env
from eosfix.targets import AUDIT_TARGETS, REQUIRED, TARGETS, load_target

# What the program asked for last: True after apply(), False after revert().
# It decides whether a post-import hook still patches; whether a class *is*
# patched is always read from the class itself.
_wanted = False
# Whether apply() set EOSFIX_AUTOPATCH itself, so that revert() removes only
# what eosfix added to the environment, and the value it replaced (None when
# the variable was unset), which revert() puts back.
_set_env_for_children = False
_autopatch_before = None


def _patcher_or_none() -> ModuleType | None:
    """eosfix's patcher, or None when it cannot be imported (wrapt missing or broken).

    Nothing can carry eosfix's wrappers without wrapt, so the queries below
    answer from that instead of raising into the program.
    """
    try:
        from eosfix import _patcher
    except Exception:  # a broken install may raise anything, not only ImportError
        return None
    return _patcher


def _patch_on_import(module: ModuleType) -> None:
    """Post-import hook: patch the freshly imported module; never raise into the import."""
    if not _wanted or disabled_by_env():
        return
    try:
        from eosfix import _patcher

        _patcher.patch(load_target(module.__name__), module)
    except Exception:
        logger().exception("eosfix: patching %s failed; it is left as it was.", module.__name__)


# Whether the Trainer audit is wanted (apply(), or EOSFIX_AUTOPATCH=audit), like _wanted for the fix.
_audit_wanted = False


def _audit_on_import(module: ModuleType) -> None:
    """Post-import hook: wrap the Trainer's callback handler with the first-batch audit; never raise."""
    if not _audit_wanted or disabled_by_env() or audit_mode() == "off":
        return
    try:
        from eosfix import _patcher

        _patcher.patch(load_target(module.__name__), module)
    except Exception:
        logger().exception(
            "eosfix: installing the Trainer audit in %s failed; training is not audited.", module.__name__
        )


def audit_trainers() -> None:
    """Audit the first training batch of every transformers ``Trainer``, now or once ``transformers`` is imported.

    ``apply()`` calls it; ``EOSFIX_AUTOPATCH=audit`` calls it alone (audit, patch nothing). ``EOSFIX_AUDIT=0``
    leaves it out; ``revert()`` removes it. See ``eosfix.environment_variables.EOSFIX_AUDIT``.
    """
    global _audit_wanted
    if disabled_by_env() or audit_mode() == "off":
        return
    _audit_wanted = True
    for name in AUDIT_TARGETS:
        _importhook.when_imported(name, _audit_on_import)


def _unhook_and_unpatch(names: Iterable[str], hook: Callable[[ModuleType], None]) -> None:
    """Cancel ``hook`` for each module of ``names`` and remove eosfix's wrappers from those already imported."""
    for name in names:
        _importhook.discard(name, hook)
        module = sys.modules.get(name)
        patcher = _patcher_or_none() if module is not None else None
        if patcher is not None:
            patcher.unpatch(load_target(name), module)


def _stop_auditing_trainers() -> None:
    global _audit_wanted
    _audit_wanted = False
    _unhook_and_unpatch(AUDIT_TARGETS, _audit_on_import)


def apply(children: bool = True) -> bool:
    """Patch the collator now, or as soon as transformers' data_collator is imported.

    Calling it again changes nothing. Returns whether the patch is in place
    now (False while the module is not imported yet, and when
    ``EOSFIX_DISABLE=1`` is set, which wins over everything).

    It also installs the first-batch audit of every transformers ``Trainer`` (``audit_trainers()``), unless
    ``EOSFIX_AUDIT=0``.

    With ``children`` (the default) it also sets ``EOSFIX_AUTOPATCH=1`` in
    ``os.environ``, so that processes started from this one (DataLoader
    workers under spawn or forkserver, subprocesses) patch themselves at
    start through the ``eosfix_autopatch.pth`` file the wheel installs.
    """
    global _wanted, _set_env_for_children, _autopatch_before
    if disabled_by_env():
        logger().warning("eosfix: EOSFIX_DISABLE is set, so eosfix.apply() left everything unpatched.")
        return False
    _wanted = True
    if children and not autopatch_by_env():
        _autopatch_before = os.environ.get(EOSFIX_AUTOPATCH)
        os.environ[EOSFIX_AUTOPATCH] = "1"
        _set_env_for_children = True
    for name in TARGETS:
        # Patches at once when the module is already imported, else on import.
        _importhook.when_imported(name, _patch_on_import)
    audit_trainers()
    return is_applied()


def revert() -> None:
    """Remove the patch and cancel a pending one; a no-op when nothing is applied.

    ``EOSFIX_AUTOPATCH`` gets back the value it had before apply() set it
    (or is removed again), unless the program changed it since.
    """
    global _wanted, _set_env_for_children
    _wanted = False
    if _set_env_for_children:
        if os.environ.get(EOSFIX_AUTOPATCH) == "1":
            if _autopatch_before is None:
                os.environ.pop(EOSFIX_AUTOPATCH, None)
            else:
                os.environ[EOSFIX_AUTOPATCH] = _autopatch_before
        _set_env_for_children = False
    _unhook_and_unpatch(TARGETS, _patch_on_import)
    _stop_auditing_trainers()


def is_applied() -> bool:
    """True when transformers' collator carries eosfix's enabled wrappers, and so does every other target that is
    imported and not fixed upstream (TRL's GKD and GOLD trainers)."""
    if REQUIRED not in sys.modules:
        return False
    patcher = _patcher_or_none()
    if patcher is None:
        return False
    for name in TARGETS:
        module = sys.modules.get(name)
        if module is None or (name != REQUIRED and patcher.fixed_upstream(load_target(name))):
            continue
        if not patcher.is_patched(load_target(name), module):
            return False
    return True


class patched:
    """Context manager: the patch is applied inside the block.

    On exit it is reverted only if it was not applied (or pending) before the
    block, so nesting it inside a program that already applied eosfix is safe.
    """

    def __init__(self, children: bool = True) -> None:
        self._children = children

    def __enter__(self) -> patched:
        self._was_wanted, self._audit_was_wanted = _wanted, _audit_wanted
        apply(children=self._children)
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        if not self._was_wanted:
            revert()
            if self._audit_was_wanted:  # EOSFIX_AUTOPATCH=audit: the audit stays as the program had it
                audit_trainers()
        return False


class unpatched:
    """Context manager: eosfix is off inside the block, and put back exactly as it was on exit.

    On entry it reverts the patch and cancels a pending one. On exit a patch
    that was applied or pending before the block is applied again, and
    ``EOSFIX_AUTOPATCH`` gets back the value it had, so a report can compare
    stock and fixed output without knowing what the program had asked for.
    """

    def __enter__(self) -> unpatched:
        self._saved = (_wanted, _set_env_for_children, _autopatch_before, os.environ.get(EOSFIX_AUTOPATCH))
        self._audit_was_wanted = _audit_wanted
        revert()
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        global _set_env_for_children, _autopatch_before
        wanted, set_env, before, value = self._saved
        if wanted:
            apply(children=False)
        elif self._audit_was_wanted:
            audit_trainers()
        if value is None:
            os.environ.pop(EOSFIX_AUTOPATCH, None)
        else:
            os.environ[EOSFIX_AUTOPATCH] = value
        _set_env_for_children, _autopatch_before = set_env, before
        return False
