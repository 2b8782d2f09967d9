"""Importing this module patches transformers' collator; that is all it does.

    import eosfix.autopatch  # noqa: F401

It works whether transformers is imported before or after: when the collator
module is not imported yet, a post-import hook patches it on import. It
imports neither torch, numpy nor transformers, never raises into the program
that imports it (problems go to the ``eosfix`` logger), and does nothing when
``EOSFIX_DISABLE=1`` is set. It also installs the first-batch audit of every
transformers ``Trainer``; with ``EOSFIX_AUTOPATCH=audit`` it installs only that.
"""


def _autopatch() -> None:
    from eosfix._log import logger
    from eosfix.environment_variables import audit_only_by_env, disabled_by_env

    if disabled_by_env():
        return
    try:
        from eosfix._api import apply, audit_trainers

        if audit_only_by_env():
            # EOSFIX_AUTOPATCH=audit: see what the stock run loses; patch nothing.
            audit_trainers()
        else:
            apply()
    except Exception:
        logger().exception("eosfix: automatic patching failed; transformers is left unpatched.")


_autopatch()
