"""Run at interpreter start by ``eosfix_autopatch.pth`` when ``EOSFIX_AUTOPATCH`` is set.

The ``.pth`` line costs one environment lookup when the switch is off; this
module is imported only when it is on. It lets the patch reach processes that
never run the user's ``import eosfix.autopatch``: DataLoader workers started
with spawn or forkserver (they re-import only the top level of ``__main__``),
and every rank started by torchrun or ``accelerate launch``. ``eosfix.apply()``
sets the switch for the children of a patched process; ``EOSFIX_AUTOPATCH=audit``
audits every Trainer without patching; ``EOSFIX_DISABLE=1`` wins over both.
Like ``eosfix.autopatch``, it never raises into the program.
"""


def _start() -> None:
    try:
        from eosfix.environment_variables import audit_only_by_env, autopatch_by_env

        if autopatch_by_env() or audit_only_by_env():
            import eosfix.autopatch  # noqa: F401
    except Exception:  # a broken install must not break every Python program
        pass


_start()
