"""eosfix's logger, created on first use so that importing eosfix does not import logging."""

import os

LOGGER_NAME = "eosfix"


def logger():
    import logging

    return logging.getLogger(LOGGER_NAME)


def disabled_by_env():
    """True when ``EOSFIX_DISABLE`` is set to a true value (1, true, yes, on)."""
    return os.environ.get("EOSFIX_DISABLE", "").strip().lower() in ("1", "true", "yes", "on")
