"""TRL's ``GOLDTrainer.generate_on_policy_outputs``: the generated EOS keeps its label and attention.

GOLD (``trl/experimental/gold/``, trl 0.25.0 to 1.8.0) builds the on-policy
batch like GKD: attention 0 and label -100 wherever the generated sequence
holds the pad id (inline up to 0.29.1, in ``_build_sequence_batch`` from
1.0.0), so with pad == eos the generated EOS is erased. The method is
``(self, model, inputs, generation_config, pad_token_id=None)`` returning
``(input_ids, attention_mask, labels, prompt_texts, completion_texts)``. The
wrapper applies :func:`eosfix.completions.restore_generated_eos` to the first
three. Where trl 1.6+ decodes ``completion_texts`` from the labelled tokens,
a restored row's text is decoded again so that it ends with the EOS too.

Not covered: the vLLM generation path of 0.25.0-0.29.1
(``_generate_on_policy_outputs_vllm``; from 1.0.0 the vLLM path builds its
mask from completion lengths) and the ULD (cross-tokenizer) loss masking (see
docs/pad-masking-sites.md). trl 1.9.0 fixed GOLD upstream
(trl PR #6357): nothing is patched there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eosfix.targets.trl_gkd import DISTRIBUTION, FIXED_FROM, call_arguments, restore_outputs
from eosfix.targets.trl_gkd import has_known_shape as _has_parameters

CLASS = "GOLDTrainer"
SUPPORTED = ">=0.25,<1.9"

_PARAMETERS = ("model", "inputs", "generation_config", "pad_token_id")

__all__ = ["CLASS", "DISTRIBUTION", "FIXED_FROM", "METHODS", "SUPPORTED", "has_known_shape"]


def _decode(tokenizer: Any, ids: Any) -> str:
    # The call stock makes for completion_texts in every release read.
    return tokenizer.decode(ids.tolist(), skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _redecode_completions(instance: Any, stock: tuple, fixed: tuple, completion_start: int) -> tuple:
    """``completion_texts`` for ``fixed``, where stock decoded only the labelled completion tokens."""
    input_ids, _, stock_labels, _, texts = stock
    labels = fixed[2]
    texts = list(texts)
    tokenizer = instance.processing_class
    for row in range(input_ids.shape[0]):
        if bool((labels[row] == stock_labels[row]).all()):
            continue
        completion = input_ids[row, completion_start:]
        # Only where stock's text is the labelled tokens (trl >= 1.6.0); up to 1.5.1 it decodes them all.
        if texts[row] == _decode(tokenizer, completion[stock_labels[row, completion_start:] != -100]):
            texts[row] = _decode(tokenizer, completion[labels[row, completion_start:] != -100])
    return (*fixed[:4], texts)


def restore_on_policy_eos(wrapped: Callable, instance: Any, args: tuple, kwargs: dict) -> tuple:
    """Wrapper for ``GOLDTrainer.generate_on_policy_outputs``."""
    outputs = wrapped(*args, **kwargs)
    call = call_arguments(args, kwargs, _PARAMETERS)
    if call["pad_token_id"] is None:
        # Stock falls back to the processing class's pad id (every release read).
        call["pad_token_id"] = getattr(getattr(instance, "processing_class", None), "pad_token_id", None)
    inputs = call["inputs"]
    if getattr(instance, "use_transformers_paged", False):
        # generate_batch (0.25-0.29, paged) returns completions only, without the prompt's columns.
        prompt_length, prompt_mask = 0, None
    else:
        prompt_length, prompt_mask = inputs["prompts"].shape[1], inputs.get("prompt_attention_mask")
    fixed = restore_outputs(outputs, call, prompt_length, prompt_mask)
    if len(outputs) == 5 and fixed[2] is not outputs[2]:
        fixed = _redecode_completions(instance, outputs, fixed, prompt_length)
    return fixed


METHODS = {"generate_on_policy_outputs": restore_on_policy_eos}


def has_known_shape(function: object) -> bool:
    """True when ``function`` is ``(self, model, inputs, generation_config, pad_token_id, ...)``.

    From trl 1.0.0 the masking itself lives in ``_build_sequence_batch``.
    """
    return _has_parameters(function, ("self", *_PARAMETERS), masks_inline=False)
