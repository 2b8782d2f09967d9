"""``eosfix.chatprobe`` moved to :mod:`eosfix.diagnostics.chatprobe`; this path gives the same module."""

from typing import TYPE_CHECKING

from eosfix._moved import alias

if TYPE_CHECKING:
    from eosfix.diagnostics.chatprobe import *  # noqa: F403

alias(__name__, "eosfix.diagnostics.chatprobe")
