"""TRL's ``GKDTrainer.generate_on_policy_outputs``: the generated EOS keeps its label and attention.

From trl 0.11.0 to 1.8.0 the on-policy step builds the student's batch from
``model.generate`` output with ``new_labels[new_labels == pad_token_id] =
-100`` and ``new_attention_mask[generated_tokens == pad_token_id] = 0``; with
pad == eos that erases the EOS the student generated. The method is a
staticmethod ``(model, inputs, generation_config, pad_token_id=None)``
returning ``(input_ids, attention_mask, labels)`` in every release that has it
(three code shapes: 0.11-0.20, 0.21-1.6 and 1.7-1.8, which also masks the
prompt's labels). The wrapper lets it run unchanged and then applies
:func:`eosfix.completions.restore_generated_eos`. trl 1.9.0 fixed it upstream
(trl PR #6357): nothing is patched there.

This module is the target for ``trl/trainer/gkd_trainer.py`` (trl 0.11.0 to
0.28.x; from 0.26.0 it only subclasses the experimental trainer, whose method
the wrapper then lands on); ``trl_gkd_experimental`` is the same target at
``trl/experimental/gkd/`` (0.26.0 on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eosfix.completions import eos_ids, restore_generated_eos

CLASS = "GKDTrainer"
DISTRIBUTION = "trl"
SUPPORTED = ">=0.11,<0.29"
# trl PR #6357: positions after the first EOS are masked by position.
FIXED_FROM = "1.9.0"

_PARAMETERS = ("model", "inputs", "generation_config", "pad_token_id")


def call_arguments(args: tuple, kwargs: dict, names: tuple[str, ...]) -> dict[str, Any]:
    """The call's arguments by parameter name (missing ones are None)."""
    bound = dict(zip(names, args))
    bound.update({name: kwargs[name] for name in names if name in kwargs})
    return {name: bound.get(name) for name in names}


def model_eos_ids(model: Any, generation_config: Any) -> tuple[int, ...]:
    """The EOS ids generation stops at: the generation config's, else the model's own."""
    return eos_ids(
        getattr(generation_config, "eos_token_id", None),
        getattr(getattr(model, "generation_config", None), "eos_token_id", None),
        getattr(getattr(model, "config", None), "eos_token_id", None),
    )


def restore_outputs(outputs: tuple, call: dict[str, Any], prompt_length: int, prompt_attention_mask: Any) -> tuple:
    """``outputs`` with its attention mask (item 1) and labels (item 2) run through the rule."""
    input_ids, attention_mask, labels = outputs[:3]
    eos = model_eos_ids(call["model"], call["generation_config"])
    new_mask, new_labels = restore_generated_eos(
        input_ids, attention_mask, labels, prompt_length, eos, call["pad_token_id"], prompt_attention_mask
    )
    return (input_ids, new_mask, new_labels, *outputs[3:])


def restore_on_policy_eos(wrapped: Callable, instance: Any, args: tuple, kwargs: dict) -> tuple:
    """Wrapper for ``generate_on_policy_outputs``."""
    outputs = wrapped(*args, **kwargs)
    call = call_arguments(args, kwargs, _PARAMETERS)
    inputs = call["inputs"]
    # generate() returns the padded prompt's columns first, then the completion.
    prompt_length = inputs["prompts"].shape[1]
    return restore_outputs(outputs, call, prompt_length, inputs.get("prompt_attention_mask"))


METHODS = {"generate_on_policy_outputs": restore_on_policy_eos}


def has_known_shape(function: object, parameters: tuple[str, ...] = _PARAMETERS, masks_inline: bool = True) -> bool:
    """True when ``function`` takes ``parameters`` first (and, with ``masks_inline``, has the -100 itself).

    ``function`` may be the staticmethod object from the class's ``vars()``.
    """
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    if code is None or code.co_varnames[: len(parameters)] != parameters:
        return False
    return not masks_inline or -100 in code.co_consts
