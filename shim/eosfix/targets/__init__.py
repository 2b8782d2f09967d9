"""The library code eosfix patches, one module per target.

Every target module has the same small contract, read by ``eosfix._patcher``:

``CLASS``
    the name of the class in the patched module (its key in ``TARGETS`` below) whose methods are wrapped (the wrapper
    goes on the class in its MRO that defines each method);
``METHODS``
    a mapping of method name to wrapper ``(wrapped, instance, args, kwargs)``;
    names the installed version lacks are skipped;
``DISTRIBUTION``, ``SUPPORTED``
    the distribution whose ``__version__`` is checked, and the PEP 440
    specifier of the releases the target was written and tested against;
``has_known_shape(function)``
    True when a method outside ``SUPPORTED`` still looks like the one the
    wrapper was written for;
``FIXED_FROM`` (optional)
    the first release that fixed the bug upstream: from it on the target is
    left alone without a warning.

The first target (transformers' collator) is the one ``eosfix.is_applied()``
requires; the others count only once their module is imported.
"""

from __future__ import annotations

from types import ModuleType

# The module each target patches -> the eosfix module that describes it. The
# post-import hooks need only the keys, so registering them imports nothing.
TARGETS = {
    "transformers.data.data_collator": "eosfix.targets.transformers_collator",
    "trl.trainer.gkd_trainer": "eosfix.targets.trl_gkd",
    "trl.experimental.gkd.gkd_trainer": "eosfix.targets.trl_gkd_experimental",
    "trl.experimental.gold.gold_trainer": "eosfix.targets.trl_gold",
}
REQUIRED = "transformers.data.data_collator"

# The Trainer audit: a target with the same contract that changes no label. It is kept out of TARGETS, so that
# ``eosfix.is_applied()`` (the fix is in place) never depends on it, and ``EOSFIX_AUTOPATCH=audit`` installs it
# alone.
AUDIT_TARGETS = {"transformers.trainer_callback": "eosfix.targets.transformers_trainer_audit"}


def load_target(patched_module: str) -> ModuleType:
    """The target module for ``patched_module`` (a key of ``TARGETS`` or ``AUDIT_TARGETS``)."""
    import importlib

    return importlib.import_module({**TARGETS, **AUDIT_TARGETS}[patched_module])
