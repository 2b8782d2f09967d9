"""eosfix's logger, created on first use so that importing eosfix does not import logging."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

LOGGER_NAME = "eosfix"


def logger() -> logging.Logger:
    import logging

    return logging.getLogger(LOGGER_NAME)
