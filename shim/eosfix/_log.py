"""eosfix's logger, created on first use so that importing eosfix does not import logging."""

from eosfix import environment_variables as _variables

# The switches live in eosfix.environment_variables; these names stay importable from here for older callers.
from eosfix.environment_variables import autopatch_by_env, debug_by_env, disabled_by_env  # noqa: F401

AUTOPATCH_ENV = _variables.EOSFIX_AUTOPATCH
DISABLE_ENV = _variables.EOSFIX_DISABLE
DEBUG_ENV = _variables.EOSFIX_DEBUG

LOGGER_NAME = "eosfix"


def logger():
    import logging

    return logging.getLogger(LOGGER_NAME)
