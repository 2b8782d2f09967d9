"""eosfix's logger, created on first use so that importing eosfix does not import logging."""

LOGGER_NAME = "eosfix"


def logger():
    import logging

    return logging.getLogger(LOGGER_NAME)
