"""``EOSLabelCallback``: audit the first training batch when ``Trainer.train()`` starts.

    trainer.add_callback(eosfix.EOSLabelCallback())             # warn
    trainer.add_callback(eosfix.EOSLabelCallback(strict=True))  # raise EOSLabelError

When real EOS tokens in the first batch lost their labels (the
``pad_token == eos_token`` bug), it warns with an
:class:`eosfix.EOSLabelWarning` that carries the audit, and logs the
same to the ``eosfix`` logger; with ``strict=True`` it raises
:class:`eosfix.EOSLabelError`, a ``RuntimeError``, before the first
step. The audit leaves the data order alone (see :func:`eosfix.audit`).
This module imports transformers; ``import eosfix`` reaches it only on demand.
"""

import logging
import warnings

from transformers import TrainerCallback

from eosfix._log import logger
from eosfix.diagnostics.audit import EOSAudit, EOSLabelError, EOSLabelWarning, audit

__all__ = ["EOSLabelCallback", "EOSLabelError", "EOSLabelWarning"]


class EOSLabelCallback(TrainerCallback):
    """Audit the first ``batches`` training batches at ``on_train_begin``.

    ``report`` holds the last :class:`eosfix.EOSAudit` (None before
    training starts, when transformers handed over no train dataloader, or
    when the audit itself failed). Only a real loss of EOS labels is an
    error: with ``strict=True`` it raises :class:`eosfix.EOSLabelError`;
    a batch with nothing to judge (no EOS, no labels) and an audit that could
    not run are logged to the ``eosfix`` logger, and training goes on.
    """

    def __init__(self, strict: bool = False, batches: int = 1) -> None:
        self.strict = strict
        self.batches = batches
        self.report = None

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        # transformers 4.42.4 and 5.23.0 pass the loader as train_dataloader;
        # 4.49.0 passes None there and keeps it on the state
        # (TrainerState.init_training_references).
        loader = train_dataloader if train_dataloader is not None else getattr(state, "train_dataloader", None)
        if loader is None:
            logger().warning("eosfix: EOSLabelCallback got no train dataloader from the Trainer; nothing audited.")
            return
        # The collator's tokenizer made the labels; the Trainer's is the fallback
        # (transformers 4.46 renamed its tokenizer argument to processing_class).
        fallback = kwargs.get("processing_class") or kwargs.get("tokenizer")
        try:
            self.report = audit(loader, batches=self.batches, fallback_tokenizer=fallback)
        except Exception as error:
            # A diagnostic must not stop a training run that would work, in strict mode neither.
            logger().warning(
                "eosfix: EOSLabelCallback could not audit the first batch (%s: %s); training goes on.",
                type(error).__name__,
                error,
                exc_info=logger().isEnabledFor(logging.DEBUG),
            )
            return
        if self.report.status == EOSAudit.OK:
            logger().info(
                "eosfix: %d of %d real EOS tokens keep their label.", self.report.eos_labelled, self.report.eos_seen
            )
            return
        if self.report.status == EOSAudit.NOTHING_TO_JUDGE:
            logger().warning(
                "eosfix: EOSLabelCallback found nothing to judge in the first training batch%s: %s",
                "es" if self.batches > 1 else "",
                self.report.advice,
            )
            return
        message = (
            f"eosfix: {self.report.eos_lost} of {self.report.eos_seen} real EOS tokens in the first training "
            f"batch{'es' if self.report.batches > 1 else ''} lost their label, so the model will not learn "
            f"to stop.\n{self.report}"
        )
        if self.strict:
            raise EOSLabelError(message, self.report)
        logger().warning(message)
        warnings.warn(message, EOSLabelWarning, stacklevel=2)
