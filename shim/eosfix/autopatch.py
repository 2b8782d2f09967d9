"""Importing this module patches transformers' collator; that is all it does.

    import eosfix.autopatch  # noqa: F401

It works whether transformers is imported before or after: when the collator
module is not imported yet, a post-import hook patches it on import. It
imports neither torch, numpy nor transformers, never raises into the program
that imports it (problems go to the ``eosfix`` logger), and does nothing when
``EOSFIX_DISABLE=1`` is set.
"""


def _autopatch() -> None:
    from eosfix._log import logger
    from eosfix.environment_variables import disabled_by_env

    if disabled_by_env():
        return
    try:
        import eosfix

        eosfix.apply()
    except Exception:
        logger().exception("eosfix: automatic patching failed; transformers is left unpatched.")


_autopatch()
