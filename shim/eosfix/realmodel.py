"""``eosfix.realmodel`` moved to :mod:`eosfix.diagnostics.realmodel`; this path gives the same module."""

from typing import TYPE_CHECKING

from eosfix._moved import alias

if TYPE_CHECKING:
    from eosfix.diagnostics.realmodel import *  # noqa: F403

alias(__name__, "eosfix.diagnostics.realmodel")
