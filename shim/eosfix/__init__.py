"""eosfix: keep EOS labels when ``pad_token == eos_token``.

transformers' ``DataCollatorForLanguageModeling(tokenizer, mlm=False)`` builds
causal-LM labels by value, ``labels[labels == pad_token_id] = -100``. Most
Llama and Mistral recipes set ``tokenizer.pad_token = tokenizer.eos_token``,
so every real EOS loses its label and the fine-tuned model never learns to
stop. TRL's ``DataCollatorForCompletionOnlyLM`` inherits the bug, and TRL's
``SFTTrainer`` before 0.17 used that collator by default.

eosfix wraps the collator's ``torch_call`` / ``numpy_call`` (and ``tf_call`` on
transformers 4.x) so that labels follow the attention mask, or the examples'
own lengths, instead of the pad id. With ``mlm=True``, or a pad token distinct
from EOS and absent from the text, the output is exactly the stock output.

Use it in one line, before or after importing transformers::

    import eosfix.autopatch  # noqa: F401

or explicitly::

    import eosfix

    eosfix.apply()          # patch now, or when transformers' collator module is imported
    eosfix.is_applied()     # True once the collator carries the patch
    eosfix.revert()         # put the original methods back
    with eosfix.patched():  # applied inside the block only
        ...
    with eosfix.unpatched():  # stock inside the block, put back as it was after
        ...

To check a training setup, ``eosfix.audit(trainer_or_loader_or_collator,
examples=None)`` reports how many real EOS tokens keep their labels
(``ok``, ``coverage``, ``advice``) without changing the data order, and
``trainer.add_callback(eosfix.EOSLabelCallback(strict=False))`` runs that
check on the first batch when training starts. With eosfix active, every
``Trainer`` runs it anyway and logs one line (``EOSFIX_AUDIT``;
``EOSFIX_AUTOPATCH=audit`` audits without patching).

``EOSFIX_DISABLE=1`` in the environment turns all of it off;
``EOSFIX_AUTOPATCH=1`` patches every new Python process at start (DataLoader
workers, torchrun and accelerate ranks), and ``apply()`` sets it for the
children of the process that calls it. Processes that do not inherit the
environment (Ray workers of a cluster started apart, other nodes of a
multi-node launch) get it from ``eosfix.ray_runtime_env()`` /
``eosfix.autopatch_env()``. ``eosfix doctor`` reports the
installed versions and shows EOS labels before and after; ``eosfix demo``
trains a tiny model both ways.
Problems are logged to the ``eosfix`` logger; library errors pass through
unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eosfix._api import apply, is_applied, patched, revert, unpatched

__version__ = "0.1.0"

__all__ = [
    "apply",
    "revert",
    "is_applied",
    "patched",
    "unpatched",
    "restore_eos_labels",
    "AmbiguousPaddingWarning",
    "audit",
    "EOSAudit",
    "EOSLabelError",
    "EOSLabelWarning",
    "EOSLabelCallback",
    "autopatch_env",
    "ray_runtime_env",
    "__version__",
]

# Everything but the switch is imported on demand: `import eosfix.autopatch`
# runs this module, and must stay within a few milliseconds.
_LAZY = {
    "restore_eos_labels": "eosfix.labels",
    "AmbiguousPaddingWarning": "eosfix.labels",
    "audit": "eosfix.diagnostics.audit",
    "EOSAudit": "eosfix.diagnostics.audit",
    "EOSLabelError": "eosfix.diagnostics.audit",
    "EOSLabelWarning": "eosfix.diagnostics.audit",
    # It subclasses transformers' TrainerCallback.
    "EOSLabelCallback": "eosfix.diagnostics.trainer_callback",
    # Processes that do not inherit this one's environment (Ray, multi-node launchers).
    "autopatch_env": "eosfix.cluster",
    "ray_runtime_env": "eosfix.cluster",
}

if TYPE_CHECKING:  # what the names above are, for type checkers and editors; never run
    from eosfix.cluster import autopatch_env, ray_runtime_env
    from eosfix.diagnostics.audit import EOSAudit, EOSLabelError, EOSLabelWarning, audit
    from eosfix.diagnostics.trainer_callback import EOSLabelCallback
    from eosfix.labels import AmbiguousPaddingWarning, restore_eos_labels


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eosfix' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
