"""The label rule for generated sequences: the first EOS of a completion is real.

TRL's on-policy trainers (GKD, GOLD) build the student's batch from
``model.generate`` output and mark padding by value, ``labels[labels ==
pad_token_id] = -100`` and ``attention_mask[tokens == pad_token_id] = 0``.
With pad == eos the EOS the model generated is erased too, so on-policy
distillation never teaches the student to stop.

``generate`` returns the (left-padded) prompt followed by the completion, and
fills every row that stopped early with the pad id after its EOS. So, by
position: in the completion, the first EOS is a real token (it keeps its label
and its attention) and everything after it is padding; in the prompt, the
prompt's own attention mask says what is padding. trl 1.9.0 made the same
change upstream (trl PR #6357).

As the collator rule (``eosfix.labels``) does, this one changes only what
stock got wrong: a position gets its label or attention back only where it
holds the pad id, that id is one of the EOS ids, and the position is not
padding. With pad != eos everything equals stock. Nothing here patches
anything, and it imports neither torch nor numpy: it works on the tensors it is
given, through their own methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["eos_ids", "first_eos", "generated_padding", "restore_generated_eos"]


def eos_ids(*candidates: Any) -> tuple[int, ...]:
    """The EOS ids from the first candidate that names any (an int, a list of ints, or None)."""
    for candidate in candidates:
        if candidate is None:
            continue
        ids = tuple(int(i) for i in candidate) if isinstance(candidate, Iterable) else (int(candidate),)
        if ids:
            return ids
    return ()


def _is_eos(tokens: Any, eos: Sequence[int]) -> Any:
    # (tokens[..., None] == eos).any(-1) without importing torch for torch.isin.
    return (tokens.unsqueeze(-1) == tokens.new_tensor(eos)).any(-1)


def first_eos(completion: Any, eos: Sequence[int]) -> Any:
    """Boolean mask of each row's first EOS in ``completion`` (a 2-D tensor of ids)."""
    is_eos = _is_eos(completion, eos)
    # How many EOS come before each position (the position itself excluded).
    before = is_eos.long().cumsum(dim=1) - is_eos.long()
    return is_eos & (before == 0)


def generated_padding(
    sequences: Any, prompt_length: int, eos: Sequence[int], prompt_attention_mask: Any = None
) -> Any:
    """Boolean mask of the positions of ``sequences`` that are padding.

    ``sequences`` is ``generate``'s output: ``prompt_length`` prompt columns,
    then the completion. A completion position is padding when an EOS (any id
    in ``eos``) comes before it in its row. A prompt position is padding where
    ``prompt_attention_mask`` is 0; without that mask no prompt position is
    called padding (the caller cannot tell, and should keep stock there).
    """
    padding = sequences.new_zeros(sequences.shape, dtype=bool)
    if prompt_attention_mask is not None and prompt_length:
        padding[:, :prompt_length] = prompt_attention_mask[:, :prompt_length] == 0
    completion = sequences[:, prompt_length:]
    if eos and completion.shape[1]:
        is_eos = _is_eos(completion, eos)
        padding[:, prompt_length:] = (is_eos.long().cumsum(dim=1) - is_eos.long()) > 0
    return padding


def restore_generated_eos(
    sequences: Any,
    attention_mask: Any,
    labels: Any,
    prompt_length: int,
    eos: Sequence[int],
    pad_token_id: int | None,
    prompt_attention_mask: Any = None,
) -> tuple[Any, Any]:
    """Return ``(attention_mask, labels)`` with the real EOS tokens stock masked as padding restored.

    ``attention_mask`` and ``labels`` are what stock built from ``sequences``
    (same shape); they are not changed: the results are new tensors, or the
    same objects when nothing changes. A position is restored when it holds
    ``pad_token_id``, that id is in ``eos``, and :func:`generated_padding`
    does not call it padding: its attention becomes 1 and, in the completion,
    its label becomes its token. Prompt labels stay stock: some releases keep
    them, others mask them all on purpose, and GKD's and GOLD's losses read
    labels from the completion only.
    """
    if pad_token_id is None or int(pad_token_id) not in eos:
        return attention_mask, labels
    real_pad_ids = (sequences == int(pad_token_id)) & ~generated_padding(
        sequences, prompt_length, eos, prompt_attention_mask
    )
    if prompt_attention_mask is None:
        # Without the prompt's mask the prompt stays stock (see generated_padding).
        real_pad_ids[:, :prompt_length] = False
    if not bool(real_pad_ids.any()):
        return attention_mask, labels
    attention_mask = attention_mask.masked_fill(real_pad_ids, 1)
    if labels is not None:
        in_completion = real_pad_ids.clone()
        in_completion[:, :prompt_length] = False
        labels = labels.clone()
        labels[in_completion] = sequences[in_completion]
    return attention_mask, labels
