"""How every ``eosfix`` command ends: one line on stderr for a failure, the traceback only on request.

Exit status, on top of each command's own (``eosfix doctor``: 1 not OK;
``eosfix vendor``: 1 to 3; ``eosfix demo``: 1 and 2; ``eosfix checkpoint``: 1 did not
learn to stop or unclear, 2 nothing to check):

- 2 when a dependency is missing or cannot be imported (an ``ImportError``);
- 1 for any other error eosfix did not expect;
- 130 when interrupted (Ctrl-C).

``--debug`` anywhere on the command line, or ``EOSFIX_DEBUG=1`` in the
environment, lets the exception and its traceback through instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

EXIT_ERROR = 1
EXIT_MISSING_DEPENDENCY = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
DEBUG_FLAG = "--debug"

_debug = False


def debug_enabled() -> bool:
    """Whether the running command was asked for tracebacks (``--debug`` or ``EOSFIX_DEBUG=1``)."""
    from eosfix.environment_variables import debug_by_env

    return _debug or debug_by_env()


def one_line(error: BaseException) -> str:
    """``Type: message`` with the message's white space folded onto one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def run(command: str, main: Callable[[list[str]], int], argv: Sequence[str]) -> int:
    """Call ``main(argv)`` without ``--debug``; return its exit status, or the status of what stopped it.

    The one place ``--debug`` is read: ``main`` never sees it. A command that wants tracebacks of its own
    (the doctor's probes) reads :func:`debug_enabled` while it runs.
    """
    global _debug
    _debug = DEBUG_FLAG in argv
    debug = debug_enabled()
    argv = [arg for arg in argv if arg != DEBUG_FLAG]
    try:
        return main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"eosfix {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if debug:
            raise
        status = EXIT_MISSING_DEPENDENCY if isinstance(error, ImportError) else EXIT_ERROR
        hint = "a dependency is missing or broken: " if status == EXIT_MISSING_DEPENDENCY else ""
        print(
            f"eosfix {command}: {hint}{one_line(error)} (run with {DEBUG_FLAG} or EOSFIX_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return status
