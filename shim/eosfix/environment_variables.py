"""The environment variables eosfix reads: one named constant each, and the functions that read them.

A variable counts as set when its value is ``1``, ``true``, ``yes`` or ``on`` (any case); the two that take other
values (``EOSFIX_AUTOPATCH=audit``, ``EOSFIX_AUDIT``) say so. This module imports only ``os``: the start-up hook
reads it in every new Python process where ``EOSFIX_AUTOPATCH`` is present. The one other place a name is spelled
out is ``eosfix_autopatch.pth``, a single line that cannot import anything.
"""

import os

EOSFIX_DISABLE = "EOSFIX_DISABLE"
"""Turns eosfix off whatever else asks for it: ``apply()``, ``import eosfix.autopatch`` and the start-up hook
leave transformers unpatched (``eosfix doctor`` and ``eosfix demo`` say so)."""

EOSFIX_AUTOPATCH = "EOSFIX_AUTOPATCH"
"""Patches every new Python process at start through ``eosfix_autopatch.pth`` (DataLoader workers, torchrun and
accelerate ranks). ``eosfix.apply()`` sets it for the children of the calling process, and ``revert()`` puts
back the value it had before.

Set to :data:`AUDIT_ONLY` (``audit``), it patches nothing: every transformers ``Trainer`` only audits its first
training batch (see :data:`EOSFIX_AUDIT`), so a run shows what the stock code loses before the fix is trusted.
``import eosfix.autopatch`` follows the same value, so a script that has the import is audited stock too."""

AUDIT_ONLY = "audit"

EOSFIX_AUDIT = "EOSFIX_AUDIT"
"""The first-batch audit of every transformers ``Trainer`` (subclasses included: TRL's, LLaMA-Factory's,
axolotl's) that runs wherever eosfix is active (``import eosfix.autopatch``, ``eosfix.apply()``, or
``EOSFIX_AUTOPATCH`` set to ``1`` or ``audit``). When training starts it collates one extra batch and logs one
line on rank 0: the collator, the real EOS tokens the loss reads, how many kept their label; a warning when some
lost it. Unset or a true value: on. A false value (``0``, ``false``, ``no``, ``off``): off, nothing installed.
:data:`STRICT` (``strict``): a loss raises ``eosfix.EOSLabelError`` before the first step, on every rank that
finds it (for CI gates)."""

STRICT = "strict"

EOSFIX_DEBUG = "EOSFIX_DEBUG"
"""Lets the ``eosfix`` commands show an error's traceback instead of one line on stderr, as ``--debug`` does."""

TRUE_VALUES = ("1", "true", "yes", "on")
FALSE_VALUES = ("0", "false", "no", "off")


def is_set(name: str) -> bool:
    """True when the variable ``name`` holds one of :data:`TRUE_VALUES`."""
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def disabled_by_env() -> bool:
    """True when :data:`EOSFIX_DISABLE` is set."""
    return is_set(EOSFIX_DISABLE)


def autopatch_by_env() -> bool:
    """True when :data:`EOSFIX_AUTOPATCH` asks new processes to patch at start."""
    return is_set(EOSFIX_AUTOPATCH)


def debug_by_env() -> bool:
    """True when :data:`EOSFIX_DEBUG` asks the commands for tracebacks."""
    return is_set(EOSFIX_DEBUG)


def _value(name: str) -> str:
    return os.environ.get(name, "").strip().lower()


def audit_only_by_env() -> bool:
    """True when :data:`EOSFIX_AUTOPATCH` is :data:`AUDIT_ONLY`: audit every Trainer, patch nothing."""
    return _value(EOSFIX_AUTOPATCH) == AUDIT_ONLY


def audit_mode() -> str:
    """What :data:`EOSFIX_AUDIT` asks of the Trainer audit: ``"off"``, ``"strict"`` or ``"warn"`` (the default)."""
    value = _value(EOSFIX_AUDIT)
    if value in FALSE_VALUES:
        return "off"
    return STRICT if value == STRICT else "warn"
