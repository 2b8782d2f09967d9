"""The label rule: causal-LM labels that keep every real token, EOS included.

transformers' ``DataCollatorForLanguageModeling(mlm=False)`` masks labels by
value (``labels[labels == pad_token_id] = -100``). When ``pad_token`` is the
``eos_token`` that also erases every real EOS, so the model never learns to
stop. The rule here masks by position instead: a position keeps its label when
it holds a token of the example itself and gets -100 when it is padding.

"A token of the example" is read, in this order, from

1. the padded batch's ``attention_mask``: ``tokenizer.pad`` builds it from the
   masks the examples supplied, or from their lengths when they supplied none;
2. the examples' own lengths, placed on ``tokenizer.padding_side``, when the
   batch has no mask (bare id lists, or a tokenizer whose
   ``model_input_names`` has no ``attention_mask``).

Examples that supplied no mask may have been padded before they reached the
collator. In such an example a run of pad ids at its start is taken as
padding, and a run at its end keeps the label on its first token only (that
token is the EOS when pad == eos) and masks the rest. When pad == eos this
guess changes labels, so it is announced once with
:class:`AmbiguousPaddingWarning`.

Nothing in this module patches anything, and it imports neither torch nor
numpy: it works on whatever array type the collator returned.
"""

import warnings
from collections.abc import Mapping

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
    """Examples arrived padded with pad == eos and without an attention_mask."""


_warned_ambiguous = False


def _is_torch(array):
    # A torch tensor without importing torch: numpy arrays have no masked_fill.
    return hasattr(array, "masked_fill")


def causal_lm_labels(input_ids, padding):
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


def _ids_of(example):
    return example["input_ids"] if isinstance(example, Mapping) else example


def _padding_from_lengths(input_ids, examples, padding_side):
    """Boolean mask of the positions the collator padded, from each example's length."""
    width = input_ids.shape[1]
    lengths = [len(_ids_of(example)) for example in examples]
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


def _may_be_pre_padded(examples, pad_token_id, pad_is_eos):
    """Cheap look at the examples' edges: could any of them hold pre-padding?

    An example needs the full check when it starts with a pad id, or ends with
    one (with pad == eos: with two, since a single trailing EOS is just the
    EOS). Examples that are not plain lists are not inspected here: the full
    check, which is vectorised, runs for them.
    """
    for example in examples:
        ids = _ids_of(example)
        if not isinstance(ids, (list, tuple)):
            return True
        if not ids:
            continue
        if ids[0] == pad_token_id:
            return True
        if ids[-1] == pad_token_id and (not pad_is_eos or (len(ids) > 1 and ids[-2] == pad_token_id)):
            return True
    return False


def _cumsum(array, reverse=False):
    # Running count along each row (from the end when reverse), torch or numpy.
    if _is_torch(array):
        if reverse:
            return array.flip(1).cumsum(1).flip(1)
        return array.cumsum(1)
    if reverse:
        return array[:, ::-1].cumsum(1)[:, ::-1]
    return array.cumsum(1)


def _run_starts(runs):
    """The first position of each run of True along the rows of ``runs``."""
    starts = runs.clone() if _is_torch(runs) else runs.copy()
    starts[:, 1:] &= ~runs[:, :-1]
    return starts


def pre_padding(input_ids, padding, pad_token_id, pad_is_eos):
    """Positions inside the examples' own tokens that are pre-padding.

    ``padding`` marks what is already known to be padding (the collator's).
    Returns ``(pre_padding, guessed)``: a boolean mask of the leading and
    trailing runs of pad ids within each example (the first token of a
    trailing run is left out when pad == eos: it is the EOS), and whether,
    with pad == eos, any such run was two or more tokens long. A lone pad id
    at the start of an example is not worth a warning: it is what packed
    chunks that begin with the previous document's EOS look like, and the
    loss never reads the label of an example's first token.
    """
    token = ~padding
    is_pad = (input_ids == pad_token_id) & token
    content = token & ~is_pad
    # A pad id with no content before it in its row is leading padding; one
    # with no content after it is trailing padding.
    leading = is_pad & (_cumsum(content) == 0)
    trailing = is_pad & (_cumsum(content, reverse=True) == 0) & ~leading
    if pad_is_eos:
        trailing = trailing & ~_run_starts(trailing)
    pre_padding = leading | trailing
    guessed = bool(pad_is_eos and (trailing.any() or (leading & ~_run_starts(leading)).any()))
    return pre_padding, guessed


def padding_mask(batch, examples, padding_side="right", pad_token_id=None, eos_token_id=None, warn=True):
    """Boolean mask of the positions of ``batch["input_ids"]`` that are padding, not tokens of an example.

    ``batch`` is the collator's padded output, ``examples`` the list it was
    built from (mappings, id lists, arrays or tensors; it is only read).
    ``pad_token_id`` and ``eos_token_id`` may be callables returning the ids:
    they are needed only for examples that carry no attention mask. With
    ``warn`` False the pre-padding guess is made silently (for the audit).
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
    pad_token_id = pad_token_id() if callable(pad_token_id) else pad_token_id
    if pad_token_id is None:
        return padding
    eos_token_id = eos_token_id() if callable(eos_token_id) else eos_token_id
    pad_is_eos = pad_token_id == eos_token_id
    if not _may_be_pre_padded(examples, pad_token_id, pad_is_eos):
        return padding
    guessed_padding, guessed = pre_padding(input_ids, padding, pad_token_id, pad_is_eos)
    if guessed and warn:
        _warn_ambiguous()
    return padding | guessed_padding


def _warn_ambiguous():
    global _warned_ambiguous
    if _warned_ambiguous:
        return
    _warned_ambiguous = True
    warnings.warn(
        "eosfix: some examples reached DataCollatorForLanguageModeling already padded, "
        "with pad_token == eos_token and no attention_mask, so padding and EOS look alike. "
        "eosfix assumed that pad ids at the start of an example are padding, and that of the "
        "pad ids at its end the first is the EOS (label kept) and the rest are padding. "
        "To remove the guess, give each example its attention_mask, or leave padding to the collator.",
        AmbiguousPaddingWarning,
        stacklevel=4,
    )


def restore_eos_labels(batch, examples, tokenizer):
    """Set ``batch["labels"]`` from the positions of the examples' tokens, not from the pad id.

    Returns ``batch`` (changed in place: only its ``"labels"`` entry is
    rewritten, in place when it is the array the collator just built).
    ``examples`` is what the collator was called with; ``tokenizer`` supplies
    ``padding_side``, and ``pad_token_id`` and ``eos_token_id`` when the
    examples carry no attention mask.
    """
    padding = padding_mask(
        batch,
        examples,
        padding_side=getattr(tokenizer, "padding_side", "right"),
        # Read only when needed: on transformers' tokenizers they are
        # properties that look the token up in the vocabulary.
        pad_token_id=lambda: getattr(tokenizer, "pad_token_id", None),
        eos_token_id=lambda: getattr(tokenizer, "eos_token_id", None),
    )
    input_ids, labels = batch["input_ids"], batch.get("labels")
    if (
        labels is not None
        and type(labels) is type(input_ids)
        and labels.shape == input_ids.shape
        and labels.dtype == input_ids.dtype
    ):
        # The collator's own labels, a copy it made of input_ids moments ago:
        # rewriting it in place saves allocating (and page-faulting) a second
        # array of the batch's size on every call.
        _overwrite_labels(labels, input_ids, padding)
    else:
        batch["labels"] = causal_lm_labels(input_ids, padding)
    return batch


def _overwrite_labels(labels, input_ids, padding):
    if _is_torch(labels):
        labels.copy_(input_ids).masked_fill_(padding, IGNORE_INDEX)
    else:
        import numpy as np

        np.copyto(labels, input_ids)
        labels[padding] = IGNORE_INDEX
