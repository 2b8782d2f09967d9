"""The label rule: causal-LM labels that keep every real EOS, and change nothing else.

transformers' ``DataCollatorForLanguageModeling(mlm=False)`` masks labels by
value (``labels[labels == pad_token_id] = -100``). When ``pad_token`` is the
``eos_token`` that also erases every real EOS, so the model never learns to
stop.

The rule, in one sentence: a pad id keeps its label when the pad token is the
EOS token and the position holds a token of an example; every other label is
the stock one. So with pad != eos the labels are exactly stock (pad ids inside
the text included), and with pad == eos the only labels that differ from stock
are those of EOS tokens that belong to an example.

"A token of an example" is read, in this order, from

1. the padded batch's ``attention_mask``: ``tokenizer.pad`` builds it from the
   masks the examples supplied, or from their lengths when they supplied none;
2. the examples' own lengths, placed on ``tokenizer.padding_side``, when the
   batch has no mask (bare id lists, or a tokenizer whose
   ``model_input_names`` has no ``attention_mask``).

Examples that supplied no mask may have been padded before they reached the
collator, and with pad == eos their padding looks like EOS. Here, and only
here, the runtime shim guesses: in a run of two or more pad ids at the start
or the end of such an example, only the one next to the example's content is
its own (a BOS that is the EOS, or the EOS), and the rest is padding; an
example made only of pad ids keeps its first. A lone pad id at an edge is
always the example's own. When the guess changes a label it is announced with
:class:`AmbiguousPaddingWarning`, pointing at the caller's line. The vendor
patches and the upstream patch do not guess (they label such runs by the
example's length); ``spec/label_rule.json`` lists these rows.

Nothing in this module patches anything, and it imports neither torch nor
numpy: it works on whatever array type the collator returned.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any

IGNORE_INDEX = -100

__all__ = [
    "IGNORE_INDEX",
    "AmbiguousPaddingWarning",
    "causal_lm_labels",
    "padding_mask",
    "pre_padding",
    "restore_eos_labels",
]


class AmbiguousPaddingWarning(UserWarning):
    """Examples arrived padded with pad == eos and without an attention_mask, and eosfix guessed."""


def _is_torch(array: Any) -> bool:
    # A torch tensor without importing torch: numpy arrays have no masked_fill.
    return hasattr(array, "masked_fill")


def causal_lm_labels(input_ids: Any, padding: Any) -> Any:
    """Return ``input_ids`` with every position in ``padding`` set to -100.

    ``input_ids`` is a 2-D torch tensor or numpy array; ``padding`` a boolean
    array of the same kind and shape. The result is a new array of the same
    dtype; neither argument is changed.
    """
    if _is_torch(input_ids):
        return input_ids.masked_fill(padding, IGNORE_INDEX)
    labels = input_ids.copy()
    labels[padding] = IGNORE_INDEX
    return labels


def _ids_of(example: Any) -> Any:
    return example["input_ids"] if isinstance(example, Mapping) else example


def _padding_from_lengths(input_ids: Any, examples: Sequence[Any], padding_side: str) -> Any:
    """Boolean mask of the positions the collator padded, from each example's length."""
    width = input_ids.shape[1]
    lengths: Any = [len(_ids_of(example)) for example in examples]
    if _is_torch(input_ids):
        import torch

        lengths = torch.tensor(lengths, device=input_ids.device).unsqueeze(1)
        positions = torch.arange(width, device=input_ids.device).unsqueeze(0)
    else:
        import numpy as np

        lengths = np.asarray(lengths).reshape(-1, 1)
        positions = np.arange(width).reshape(1, -1)
    if padding_side == "left":
        return positions < width - lengths
    return positions >= lengths


def _may_be_pre_padded(examples: Sequence[Any], pad_token_id: int) -> bool:
    """Cheap look at the examples' edges: could the guess change any label?

    Only a run of two or more pad ids at an edge can be guessed to be padding,
    so an example needs the full check when its first two or last two ids are
    pad ids. Examples that are not plain lists are not inspected here: the
    full check, which is vectorised, runs for them.
    """
    for example in examples:
        ids = _ids_of(example)
        if not isinstance(ids, (list, tuple)):
            return True
        if len(ids) < 2:
            continue
        if ids[0] == ids[1] == pad_token_id or ids[-1] == ids[-2] == pad_token_id:
            return True
    return False


def _cumsum(array: Any, reverse: bool = False) -> Any:
    # Running count along each row (from the end when reverse), torch or numpy.
    if _is_torch(array):
        if reverse:
            return array.flip(1).cumsum(1).flip(1)
        return array.cumsum(1)
    if reverse:
        return array[:, ::-1].cumsum(1)[:, ::-1]
    return array.cumsum(1)


def _shifted(runs: Any, step: int) -> Any:
    """``runs`` moved ``step`` places along the rows (1: to the right, -1: to the left), filled with False."""
    shifted = runs.clone() if _is_torch(runs) else runs.copy()
    shifted[:] = False
    if step > 0:
        shifted[:, step:] = runs[:, :-step]
    else:
        shifted[:, :step] = runs[:, -step:]
    return shifted


def pre_padding(input_ids: Any, padding: Any, pad_token_id: int, pad_is_eos: bool = True) -> tuple[Any, bool]:
    """Positions inside the examples' own tokens that the guess takes for pre-padding.

    ``padding`` marks what is already known to be padding (the collator's).
    Returns ``(pre_padding, guessed)``: a boolean mask, and whether it marks
    anything. With ``pad_is_eos``, of a run of pad ids at the start of an
    example the last one is kept (it touches the content: a BOS that is the
    EOS), of a run at the end the first (the EOS), and of an example made only
    of pad ids the first; without it every such run is pre-padding.
    """
    token = ~padding
    is_pad = (input_ids == pad_token_id) & token
    content = token & ~is_pad
    content_before = _cumsum(content) > 0
    content_after = _cumsum(content, reverse=True) > 0
    # A pad id with no content before it in its row is leading; one with
    # content before it and none after it is trailing. A row without content
    # is all leading.
    leading = is_pad & ~content_before
    trailing = is_pad & content_before & ~content_after
    if not pad_is_eos:
        guessed_padding = leading | trailing
    else:
        has_content = content_after[:, :1]  # per row: any content at all
        run_start = is_pad & ~_shifted(is_pad, 1)
        keep_leading = leading & (_shifted(content, -1) | (run_start & ~has_content))
        keep_trailing = trailing & run_start
        guessed_padding = (leading & ~keep_leading) | (trailing & ~keep_trailing)
    return guessed_padding, bool(guessed_padding.any())


def padding_mask(
    batch: Mapping[str, Any],
    examples: Sequence[Any],
    padding_side: str = "right",
    pad_token_id: int | None = None,
    eos_token_id: int | None = None,
    warn: bool = True,
) -> Any:
    """Boolean mask of the positions of ``batch["input_ids"]`` that are padding, not tokens of an example.

    ``batch`` is the collator's padded output, ``examples`` the list it was
    built from (mappings, id lists, arrays or tensors; it is only read).
    ``pad_token_id`` and ``eos_token_id`` are needed only for examples that
    carry no attention mask, where the shim guesses about pre-padding (see the
    module docstring). With ``warn`` False the guess is made silently (for
    the audit).
    """
    input_ids = batch["input_ids"]
    attention_mask = batch.get("attention_mask") if isinstance(batch, Mapping) else None
    if attention_mask is not None and tuple(attention_mask.shape) == tuple(input_ids.shape):
        padding = attention_mask == 0
    else:
        padding = _padding_from_lengths(input_ids, examples, padding_side)

    # tokenizer.pad fails unless every example has the keys of the first, so
    # the first one tells whether the examples carried their own masks.
    first = examples[0]
    if isinstance(first, Mapping) and "attention_mask" in first:
        return padding
    if pad_token_id is None or not _may_be_pre_padded(examples, pad_token_id):
        return padding
    guessed_padding, guessed = pre_padding(input_ids, padding, pad_token_id, pad_token_id == eos_token_id)
    if guessed and warn and pad_token_id == eos_token_id:
        _warn_ambiguous()
    return padding | guessed_padding


# Frames of these packages sit between the user's call and the rule (the
# collator, wrapt's wrapper, DataLoader's fetcher, Trainer's loop), so the
# warning is attributed to the first frame outside them.
_LIBRARY_PACKAGES = ("eosfix", "wrapt", "transformers", "trl", "torch", "accelerate", "datasets", "numpy")


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes ``warnings.warn`` (called from ``_warn_ambiguous``) name the user's frame."""
    frame: FrameType | None = sys._getframe(2)  # the caller of _warn_ambiguous: stacklevel 2 of its warn()
    level = 2
    while frame is not None:
        package = (frame.f_globals.get("__name__") or "").partition(".")[0]
        if package not in _LIBRARY_PACKAGES:
            return level
        frame = frame.f_back
        level += 1
    return 2


def _warn_ambiguous() -> None:
    # No once-only flag of our own: the warnings module's registry shows it
    # once per calling line under the default filter, and users' filters apply.
    warnings.warn(
        "eosfix: some examples reached DataCollatorForLanguageModeling already padded, with pad_token == "
        "eos_token and no attention_mask, so padding and EOS look alike; eosfix took all but one pad id of "
        "each run at an example's edge for padding. Give each example its attention_mask, or leave padding "
        "to the collator, and there is nothing to guess.",
        AmbiguousPaddingWarning,
        stacklevel=_caller_stacklevel(),
    )


def restore_eos_labels(batch: Any, examples: Sequence[Any], tokenizer: Any) -> Any:
    """Give back their labels to the EOS tokens of the examples that the stock collator masked.

    Returns ``batch``, with only its ``"labels"`` entry changed (in place when
    it is the stock labels, a copy of ``input_ids`` masked by pad id).
    ``examples`` is what the collator was called with; ``tokenizer`` supplies
    ``pad_token_id``, ``eos_token_id`` and ``padding_side``. With no pad
    token, or a pad token that is not the EOS, nothing changes.
    """
    pad_token_id = getattr(tokenizer, "pad_token_id", None)
    if pad_token_id is None or pad_token_id != getattr(tokenizer, "eos_token_id", None):
        return batch
    input_ids, labels = batch["input_ids"], batch.get("labels")
    padding = padding_mask(
        batch,
        examples,
        padding_side=getattr(tokenizer, "padding_side", "right"),
        pad_token_id=pad_token_id,
        eos_token_id=pad_token_id,
    )
    is_pad = input_ids == pad_token_id
    if (
        labels is not None
        and type(labels) is type(input_ids)
        and labels.shape == input_ids.shape
        and labels.dtype == input_ids.dtype
    ):
        # The stock labels, a copy of input_ids masked by pad id moments ago:
        # giving the examples' EOS their label back in place is all that is left.
        restore = is_pad & ~padding
        if _is_torch(labels):
            labels.masked_fill_(restore, pad_token_id)
        else:
            labels[restore] = pad_token_id
    else:
        batch["labels"] = causal_lm_labels(input_ids, is_pad & padding)
    return batch
