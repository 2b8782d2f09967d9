"""transformers' ``DataCollatorForLanguageModeling``: labels by position, not by pad id.

Every release from 4.30 to 5.25 (docs/sweep.csv) builds causal-LM labels as
``labels[labels == self.tokenizer.pad_token_id] = -100`` in ``torch_call`` and
``numpy_call``, and the 4.x releases do the same with ``tf.where`` in
``tf_call`` (removed in 5.0.0). The wrappers let that code run unchanged and
then give the examples' EOS tokens their labels back with
:func:`eosfix.labels.restore_eos_labels` when ``mlm`` is False. With ``mlm=True`` they return the original output
untouched. Subclasses that call ``super().torch_call`` (TRL's
``DataCollatorForCompletionOnlyLM``) go through the wrapper on the base class.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from eosfix.labels import restore_eos_labels

CLASS = "DataCollatorForLanguageModeling"
DISTRIBUTION = "transformers"
SUPPORTED = ">=4.30,<5.26"


def _examples(args: tuple, kwargs: dict) -> Any:
    # The methods are torch_call(self, examples) in every release read.
    return args[0] if args else kwargs["examples"]


def _wants_causal_labels(instance: Any, batch: Mapping) -> bool:
    return instance is not None and not getattr(instance, "mlm", True) and "labels" in batch


def restore_labels(wrapped: Callable, instance: Any, args: tuple, kwargs: dict) -> Any:
    """Wrapper for ``torch_call`` and ``numpy_call``."""
    batch = wrapped(*args, **kwargs)
    if _wants_causal_labels(instance, batch):
        restore_eos_labels(batch, _examples(args, kwargs), instance.tokenizer)
    return batch


def restore_tf_labels(wrapped: Callable, instance: Any, args: tuple, kwargs: dict) -> Any:
    """Wrapper for ``tf_call`` (transformers 4.x): the rule runs on numpy copies."""
    batch = wrapped(*args, **kwargs)
    if not _wants_causal_labels(instance, batch):
        return batch
    # tf_call imported TensorFlow to get here; eosfix never imports it itself.
    tf = sys.modules["tensorflow"]
    # .numpy() may share memory with the tensor: the labels are rewritten on a copy.
    arrays = {key: batch[key].numpy().copy() for key in ("input_ids", "attention_mask", "labels") if key in batch}
    restore_eos_labels(arrays, _examples(args, kwargs), instance.tokenizer)
    batch["labels"] = tf.convert_to_tensor(arrays["labels"])
    return batch


METHODS = {
    "torch_call": restore_labels,
    "numpy_call": restore_labels,
    "tf_call": restore_tf_labels,
}


def has_known_shape(function: object) -> bool:
    """True when ``function`` looks like the value-masking method the wrapper expects.

    The wrapper relies on two things: the method takes the examples as its
    first argument, and it returns a dict whose ``labels`` came from
    ``input_ids`` masked by ``pad_token_id``. The code object tells both
    without needing the source file.
    """
    code = getattr(function, "__code__", None)
    if code is None or code.co_argcount < 2 or code.co_varnames[1] != "examples":
        return False
    return -100 in code.co_consts and {"mlm", "pad_token_id"} <= set(code.co_names)
