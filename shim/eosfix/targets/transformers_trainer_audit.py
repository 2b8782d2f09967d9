"""transformers' ``CallbackHandler.on_train_begin``: audit the first training batch of every ``Trainer``.

Not a fix: the wrapper changes no label and no argument. Every ``Trainer`` (TRL's, LLaMA-Factory's and axolotl's
subclasses included) calls ``self.callback_handler.on_train_begin(args, state, control)`` once per ``train()``,
after the train dataloader is built and prepared and before the first step; the handler then holds the very
loader training iterates (``train_dataloader``) and the trainer's tokenizer or processor. That is the one place
that sees all of them without a change to the user's script or to the Trainer's callbacks list.

The wrapper runs :func:`eosfix.diagnostics.trainer_callback.audit_train_begin` first, then the stock method. It never
raises into training, except ``EOSFIX_AUDIT=strict`` on a loss of EOS labels (``eosfix.EOSLabelError``).
Installed by ``eosfix.apply()`` and by ``EOSFIX_AUTOPATCH=audit``, apart from the label targets: it is not part
of ``eosfix.is_applied()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CLASS = "CallbackHandler"
DISTRIBUTION = "transformers"
SUPPORTED = ">=4.30,<5.26"  # the releases the tox matrix runs the Trainer audit on


def audit_first_batch(wrapped: Callable, instance: Any, args: tuple, kwargs: dict) -> Any:
    """Wrapper for ``on_train_begin(self, args, state, control, **kwargs)``."""
    from eosfix.diagnostics.audit import EOSLabelError

    try:
        from eosfix.diagnostics.trainer_callback import audit_train_begin

        audit_train_begin(instance, *args, **kwargs)
    except EOSLabelError:
        raise  # EOSFIX_AUDIT=strict: the one error the audit may raise into training
    except Exception:
        from eosfix._log import logger

        logger().debug("eosfix: the Trainer audit failed; training goes on.", exc_info=True)
    return wrapped(*args, **kwargs)


METHODS = {"on_train_begin": audit_first_batch}


def has_known_shape(function: object) -> bool:
    """True when ``function`` still takes ``(self, args, state, control, ...)`` as every release read does."""
    code = getattr(function, "__code__", None)
    return code is not None and code.co_varnames[1:4] == ("args", "state", "control")
