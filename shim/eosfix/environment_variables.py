"""The environment variables eosfix reads: one named constant each, and the functions that read them.

A variable counts as set when its value is ``1``, ``true``, ``yes`` or ``on`` (any case). This module imports
only ``os``: the start-up hook reads it in every new Python process where ``EOSFIX_AUTOPATCH`` is present. The
one other place a name is spelled out is ``eosfix_autopatch.pth``, a single line that cannot import anything.
"""

import os

EOSFIX_DISABLE = "EOSFIX_DISABLE"
"""Turns eosfix off whatever else asks for it: ``apply()``, ``import eosfix.autopatch`` and the start-up hook
leave transformers unpatched (``eosfix doctor`` and ``eosfix demo`` say so)."""

EOSFIX_AUTOPATCH = "EOSFIX_AUTOPATCH"
"""Patches every new Python process at start through ``eosfix_autopatch.pth`` (DataLoader workers, torchrun and
accelerate ranks). ``eosfix.apply()`` sets it for the children of the calling process, and ``revert()`` puts
back the value it had before."""

EOSFIX_DEBUG = "EOSFIX_DEBUG"
"""Lets the ``eosfix`` commands show an error's traceback instead of one line on stderr, as ``--debug`` does."""

TRUE_VALUES = ("1", "true", "yes", "on")


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
