"""``EOSLabelCallback``: audit the first training batch when ``Trainer.train()`` starts.

    trainer.add_callback(eosfix.EOSLabelCallback())             # warn
    trainer.add_callback(eosfix.EOSLabelCallback(strict=True))  # raise EOSLabelError

When real EOS tokens in the first batch lost their labels (the
``pad_token == eos_token`` bug), it warns with an
:class:`eosfix.EOSLabelWarning` that carries the audit, and logs the
same to the ``eosfix`` logger; with ``strict=True`` it raises
:class:`eosfix.EOSLabelError`, a ``RuntimeError``, before the first
step. The audit leaves the data order alone (see :func:`eosfix.audit`).

:func:`audit_train_begin` is the same check with no callback to add: eosfix's
wrapper on transformers' ``CallbackHandler.on_train_begin`` calls it for every
``Trainer`` wherever eosfix is active (``EOSFIX_AUDIT`` and
``EOSFIX_AUTOPATCH=audit`` in ``eosfix.environment_variables``).
This module imports transformers; ``import eosfix`` reaches it only on demand.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

from transformers import TrainerCallback

from eosfix._log import logger
from eosfix.diagnostics.audit import EOSAudit, EOSLabelError, EOSLabelWarning, audit
from eosfix.environment_variables import STRICT, audit_mode

__all__ = ["EOSLabelCallback", "EOSLabelError", "EOSLabelWarning", "audit_train_begin"]


def _train_loader(train_dataloader: Any, state: Any) -> Any:
    # transformers 4.42.4 and 5.23.0 pass the loader as train_dataloader;
    # 4.49.0 passes None there and keeps it on the state
    # (TrainerState.init_training_references). `is None`, never a truth test:
    # that calls len(), which raises for an IterableDataset without one.
    return train_dataloader if train_dataloader is not None else getattr(state, "train_dataloader", None)


def _first(*candidates: Any) -> Any:
    return next((candidate for candidate in candidates if candidate is not None), None)


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
        self.report: EOSAudit | None = None

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        loader = _train_loader(train_dataloader, state)
        if loader is None:
            logger().warning("eosfix: EOSLabelCallback got no train dataloader from the Trainer; nothing audited.")
            return
        # The collator's tokenizer made the labels; the Trainer's is the fallback
        # (transformers 4.46 renamed its tokenizer argument to processing_class).
        fallback = _first(kwargs.get("processing_class"), kwargs.get("tokenizer"))
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
        self._tell()

    def _tell(self) -> None:
        report = self.report
        assert report is not None  # set by the caller just before
        if report.status == EOSAudit.OK:
            logger().info("eosfix: %d of %d real EOS tokens keep their label.", report.eos_labelled, report.eos_seen)
            return
        if report.status == EOSAudit.NOTHING_TO_JUDGE:
            logger().warning(
                "eosfix: EOSLabelCallback found nothing to judge in the first training batch%s: %s",
                "es" if self.batches > 1 else "",
                report.advice,
            )
            return
        message = (
            f"eosfix: {report.eos_lost} of {report.eos_seen} real EOS tokens in the first training "
            f"batch{'es' if report.batches > 1 else ''} lost their label, so the model will not learn "
            f"to stop.\n{report}"
        )
        if self.strict:
            raise EOSLabelError(message, report)
        logger().warning(message)
        warnings.warn(message, EOSLabelWarning, stacklevel=3)


# --- the zero-code audit: every Trainer, through CallbackHandler.on_train_begin (eosfix.targets) -------------

ZERO_CODE_FIX = (
    "To fix it with no code change, set EOSFIX_AUTOPATCH=1 in the environment of the run (or add "
    "`import eosfix.autopatch` to the script), or give the tokenizer a pad token distinct from EOS."
)


def _say(level: int, message: str) -> None:
    """Log ``message`` to the ``eosfix`` logger; print it to stderr when logging is set up to drop it.

    The user of a CLI asked for the audit by setting an environment variable and never configured the
    ``eosfix`` logger; by default Python shows no INFO record at all.
    """
    log = logger()
    if log.isEnabledFor(level) and log.hasHandlers():
        log.log(level, message)
    else:
        print(message, file=sys.stderr, flush=True)


def _line(report: EOSAudit) -> tuple[int, str]:
    """The level and the one line that report the audit of the first training batch."""
    if report.status == EOSAudit.OK:
        return logging.INFO, f"eosfix: {report.summary()}."
    if report.status == EOSAudit.LOST:
        advice = ZERO_CODE_FIX if not report.patched else report.advice
        return logging.WARNING, f"eosfix: {report.summary()}; the model will not learn to stop. {advice}"
    level = logging.INFO if report.not_drawn else logging.WARNING
    return level, f"eosfix: {report.summary()}; nothing to judge. {report.advice}"


def _audit_quietly(handler: Any, state: Any) -> EOSAudit | None:
    """The audit of the loader the handler holds (the one training iterates)."""
    loader = _train_loader(getattr(handler, "train_dataloader", None), state)
    if loader is None:
        raise ValueError("the Trainer handed over no train dataloader")
    attributes = vars(handler)
    fallback = _first(attributes.get("processing_class"), attributes.get("tokenizer"))
    return audit(loader, batches=1, fallback_tokenizer=fallback)


def audit_train_begin(handler: Any, args: Any, state: Any, control: Any = None, **kwargs: Any) -> EOSAudit | None:
    """Audit the first training batch of the Trainer that owns ``handler`` (its ``CallbackHandler``).

    Called by eosfix's wrapper on ``CallbackHandler.on_train_begin``, before the callbacks run. It collates one
    extra batch (taking no data: see :func:`eosfix.audit`), logs one line on rank 0 only, and returns the
    report, or None when the audit is off or could not run. It never raises, except
    ``EOSFIX_AUDIT=strict`` on a loss of EOS labels: :class:`eosfix.EOSLabelError`, on every rank that finds
    it, before the first step.
    """
    mode = audit_mode()
    if mode == "off":
        return None
    loud = getattr(args, "process_index", 0) == 0
    try:
        report = _audit_quietly(handler, state)
    except Exception as error:
        if loud:
            _say(logging.INFO, f"eosfix: the first training batch was not audited ({type(error).__name__}: {error}).")
        return None
    if report is None:
        return None
    level, line = _line(report)
    if report.status == EOSAudit.LOST and mode == STRICT:
        raise EOSLabelError(f"{line} (EOSFIX_AUDIT=strict stopped training before its first step)", report)
    if loud:
        _say(level, line)
    return report
