"""``eosfix.vendor`` moved to :mod:`eosfix.vendoring.vendor`; this path gives the same module."""

from typing import TYPE_CHECKING

from eosfix._moved import alias

if TYPE_CHECKING:
    from eosfix.vendoring.vendor import *  # noqa: F403

alias(__name__, "eosfix.vendoring.vendor")
