"""``eosfix.realdemo`` moved to :mod:`eosfix.diagnostics.realdemo`; this path gives the same module."""

from typing import TYPE_CHECKING

from eosfix._moved import alias

if TYPE_CHECKING:
    from eosfix.diagnostics.realdemo import *  # noqa: F403

alias(__name__, "eosfix.diagnostics.realdemo")
