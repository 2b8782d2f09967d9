"""``eosfix.doctor`` moved to :mod:`eosfix.diagnostics.doctor`; this path gives the same module."""

from typing import TYPE_CHECKING

from eosfix._moved import alias

if TYPE_CHECKING:
    from eosfix.diagnostics.doctor import *  # noqa: F403

alias(__name__, "eosfix.diagnostics.doctor")
