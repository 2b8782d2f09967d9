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

import warnings

from transformers import TrainerCallback

from eosfix._audit import EOSLabelError, EOSLabelWarning, _tokenizer_of, _unwrap_collator, audit
from eosfix._log import logger

__all__ = ["EOSLabelCallback", "EOSLabelError", "EOSLabelWarning"]


class EOSLabelCallback(TrainerCallback):
    """Audit the first ``batches`` training batches at ``on_train_begin``.

    ``report`` holds the last :class:`eosfix.EOSAudit` (None before
    training starts, or when transformers handed over no train dataloader).
    """

    def __init__(self, strict=False, batches=1):
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
        fallback = None
        if _tokenizer_of(_unwrap_collator(loader.collate_fn)) is None:
            fallback = _tokenizer_of(kwargs.get("processing_class") or kwargs.get("tokenizer"))
        try:
            self.report = audit(loader, batches=self.batches, tokenizer=fallback)
        except Exception:
            if self.strict:
                raise
            # A diagnostic must not stop a training run that would work.
            logger().exception("eosfix: EOSLabelCallback could not audit the first batch; training goes on.")
            return
        if self.report.ok:
            logger().info(
                "eosfix: %d of %d real EOS tokens keep their label.", self.report.eos_labelled, self.report.eos_seen
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
