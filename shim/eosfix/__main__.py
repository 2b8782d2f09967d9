"""The ``eosfix`` command: ``eosfix doctor``, ``eosfix vendor``, ``eosfix demo``, ``eosfix checkpoint``."""

from __future__ import annotations

import sys

COMMANDS = {
    "doctor": ("eosfix.diagnostics.doctor.command", "is this environment affected, and does eosfix fix it?"),
    "vendor": ("eosfix.vendoring.vendor", "patch a vendored copy of transformers or trl"),
    "demo": (
        "eosfix.diagnostics.demo.command",
        "train a tiny model stock and with eosfix: only the fixed one learns to stop",
    ),
    "checkpoint": (
        "eosfix.diagnostics.checkpoint.command",
        "did a fine-tuned model learn to stop? (its checkpoint and data)",
    ),
}


def _usage() -> str:
    lines = ["usage: eosfix [--debug] COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<12}{summary}" for name, (_, summary) in COMMANDS.items()]
    lines += [
        "",
        "Errors are one line on stderr; --debug (or EOSFIX_DEBUG=1) shows the traceback. Besides each command's",
        "own exit status: 2 a dependency is missing or broken, 1 an unexpected error, 130 interrupted.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from eosfix import _cli

    argv = sys.argv[1:] if argv is None else list(argv)
    words = [arg for arg in argv if arg != _cli.DEBUG_FLAG]
    if not words or words[0] in ("-h", "--help"):
        print(_usage())
        return 0 if words else 2
    command = words[0]
    rest = list(argv)
    rest.remove(command)  # --debug stays, wherever it stood: _cli.run reads it
    if command not in COMMANDS:
        print(f"eosfix: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    import importlib

    def command_main(arguments):
        # Imported inside the runner: a command whose dependencies are broken fails in one line too.
        return importlib.import_module(COMMANDS[command][0]).main(arguments)

    return _cli.run(command, command_main, rest)


if __name__ == "__main__":
    sys.exit(main())
