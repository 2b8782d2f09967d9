"""The ``eosfix`` command: ``eosfix doctor``, ``eosfix vendor``, ``eosfix demo``."""

import sys

COMMANDS = {
    "doctor": ("eosfix.doctor", "is this environment affected, and does eosfix fix it?"),
    "vendor": ("eosfix.vendor", "patch a vendored copy of transformers or trl"),
    "demo": ("eosfix.demo", "train a tiny model stock and with eosfix: only the fixed one learns to stop"),
}


def _usage():
    lines = ["usage: eosfix COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<8}{summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"eosfix: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(COMMANDS[command][0]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
