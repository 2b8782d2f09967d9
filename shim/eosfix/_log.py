"""eosfix's logger, created on first use so that importing eosfix does not import logging."""

import os

LOGGER_NAME = "eosfix"


def logger():
    import logging

    return logging.getLogger(LOGGER_NAME)


AUTOPATCH_ENV = "EOSFIX_AUTOPATCH"
DISABLE_ENV = "EOSFIX_DISABLE"
DEBUG_ENV = "EOSFIX_DEBUG"


def _env_true(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def disabled_by_env():
    """True when ``EOSFIX_DISABLE`` is set to a true value (1, true, yes, on)."""
    return _env_true(DISABLE_ENV)


def autopatch_by_env():
    """True when ``EOSFIX_AUTOPATCH`` asks new processes to patch at start."""
    return _env_true(AUTOPATCH_ENV)


def debug_by_env():
    """True when ``EOSFIX_DEBUG`` asks the ``eosfix`` commands for tracebacks instead of one-line errors."""
    return _env_true(DEBUG_ENV)
