"""``eosfix.audit``: do the real EOS tokens of your training batches keep their labels?

It draws a batch or two exactly as training would (from a collator and some
examples, from a ``DataLoader``, or from a transformers or TRL ``Trainer``),
counts the EOS tokens that belong to the examples and those whose label is
the EOS id, and says what to do::

    report = eosfix.audit(trainer)
    report.ok         # True only when EOS labels were checked and none was lost
    report.status     # "ok", "lost" or "nothing to judge" (no batch, no labels, no EOS the loss reads)
    report.coverage   # eos_labelled / eos_seen, None when no EOS was seen
    print(report)     # the counts and one sentence of advice

Causal-LM labels in transformers are not shifted in the batch (the model
shifts them), so an EOS at position ``i`` keeps its label when
``labels[i] == input_ids[i] == eos_token_id``.

A real EOS without its label counts as *lost* only when the token before it
keeps its label: completion-only collators mask whole prompt turns on
purpose, and an EOS inside such a span (or at the start of a row, whose label
the loss never reads) is reported apart, in ``eos_in_masked_spans``.

The audit never touches an iterator the program holds and leaves every random
number generator as it found it, so training sees the same data in the same
order afterwards: see :func:`audit`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import sys
import types
from collections.abc import Iterable
from typing import Any

from eosfix._api import is_applied  # not `from eosfix`: the package imports this module lazily
from eosfix.labels import IGNORE_INDEX

__all__ = ["EOSAudit", "EOSLabelError", "EOSLabelWarning", "audit", "count_eos_labels"]


class EOSLabelError(RuntimeError):
    """Real EOS tokens in the training batches lost their labels; ``report`` holds the :class:`EOSAudit`."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


class EOSLabelWarning(UserWarning):
    """Real EOS tokens in the training batches lost their labels (``EOSLabelCallback`` without strict)."""


@dataclasses.dataclass(frozen=True)
class EOSAudit:
    """What :func:`audit` found. ``print()`` it, or read the fields.

    The counts are stored; everything that follows from them is computed on
    reading: ``coverage``, ``pad_is_eos``, ``status``, ``ok`` and ``advice``.

    ``status`` is ``"ok"`` (EOS labels were checked and every one the loss
    reads kept its label), ``"lost"`` (some lost it) or ``"nothing to judge"``
    (no batch was drawn, the batches carry no labels, or no EOS reached a
    label: the advice says what to check). ``ok`` is True only for ``"ok"``.

    ``order_kept`` is True when drawing the batches provably left the data
    order training sees unchanged, and None when the audit read a new iterator
    over an ``IterableDataset`` whose iterators it cannot see into (they keep
    the order unless they share state, such as a queue or an open file).
    ``not_drawn`` says why no batch was drawn when reading one would have
    taken data from training (an iterator, a data set that is its own
    iterator); it is empty otherwise.

    ``counted_by`` says how the examples' own tokens were told from padding:
    ``"attention_mask"``, ``"example lengths"`` (the batch had no mask),
    ``"eos ids"`` (no mask, but the pad token is not EOS, so every EOS id is
    real) or ``"trailing pad runs"`` (no mask and no examples: the first EOS
    of a trailing run is taken as the real one, the same guess eosfix makes).
    """

    eos_seen: int = 0
    eos_labelled: int = 0
    eos_lost: int = 0
    eos_in_masked_spans: int = 0
    patched: bool = False
    batches: int = 0
    has_labels: bool = True
    eos_token_id: int | None = None
    pad_token_id: int | None = None
    counted_by: str = "attention_mask"
    collator: str = ""
    order_kept: bool | None = True
    not_drawn: str = ""

    OK = "ok"
    LOST = "lost"
    NOTHING_TO_JUDGE = "nothing to judge"

    @property
    def coverage(self) -> float | None:
        """``eos_labelled / eos_seen``; None when no real EOS was seen."""
        return self.eos_labelled / self.eos_seen if self.eos_seen else None

    @property
    def pad_is_eos(self) -> bool:
        return self.pad_token_id is not None and self.pad_token_id == self.eos_token_id

    @property
    def status(self) -> str:
        if self.eos_lost:
            return self.LOST
        if self.eos_labelled and self.has_labels:
            return self.OK
        return self.NOTHING_TO_JUDGE

    @property
    def ok(self) -> bool:
        return self.status == self.OK

    @property
    def advice(self) -> str:
        """One sentence: what to do about what the audit found."""
        return _advice(self)

    def to_dict(self) -> dict[str, Any]:
        """The fields and the computed values, JSON-ready."""
        computed = ("coverage", "pad_is_eos", "status", "ok", "advice")
        return {**dataclasses.asdict(self), **{name: getattr(self, name) for name in computed}}

    def summary(self) -> str:
        """One line: the collator, the EOS the loss reads, how many kept their label."""
        if self.not_drawn and not self.batches:
            return f"EOS label audit ({self.collator}): not audited: {self.not_drawn}"
        noun = "batch" if self.batches == 1 else f"{self.batches} batches"
        head = f"EOS label audit ({self.collator}, {noun}): "
        if not self.has_labels:
            return head + "the batches carry no labels"
        masked = (
            f" ({self.eos_in_masked_spans} more in masked spans or at row starts, not read by the loss)"
            if self.eos_in_masked_spans
            else ""
        )
        return (
            head + f"{self.eos_labelled} of {self.eos_seen - self.eos_in_masked_spans} real EOS the loss reads kept "
            f"their label, {self.eos_lost} lost it{masked}; eosfix patch "
            f"{'applied' if self.patched else 'not applied'}"
        )

    def __str__(self) -> str:
        def yes_no(flag):
            return "yes" if flag else "no"

        coverage = "n/a" if self.coverage is None else f"{self.coverage:.0%}"
        verdict = {self.OK: "OK", self.LOST: "NOT OK"}.get(self.status, "NOT OK, nothing to judge")
        plural = "es" if self.batches != 1 else ""
        lines = [
            f"EOS label audit: {verdict}"
            + (f" ({self.collator}, {self.batches} batch{plural})" if self.collator else ""),
            f"  real EOS tokens seen:          {self.eos_seen}   (counted by {self.counted_by})",
            f"  EOS that keep their label:     {self.eos_labelled}   (coverage {coverage})",
            f"  EOS that lost their label:     {self.eos_lost}",
        ]
        if self.eos_in_masked_spans:
            lines.append(f"  EOS inside masked spans:       {self.eos_in_masked_spans}   (not counted as lost)")
        lines += [
            f"  pad token is EOS:              {yes_no(self.pad_is_eos)}",
            f"  eosfix patch applied:          {yes_no(self.patched)}",
        ]
        if self.order_kept is None:
            lines.append(
                "  data order:                    not guaranteed: a new iterator over the IterableDataset was read"
            )
        lines.append(f"  advice: {self.advice}")
        return "\n".join(lines)

    __repr__ = __str__


def _to_numpy(array):
    import numpy as np

    if hasattr(array, "detach"):  # a torch tensor, without importing torch
        return array.detach().cpu().numpy()
    if hasattr(array, "numpy"):  # a TensorFlow tensor
        return array.numpy()
    return np.asarray(array)


def _real_token_mask(batch, examples, eos_token_id, pad_token_id, padding_side):
    """(mask of the positions that hold the examples' own tokens, how it was decided).

    It reads the batch the way eosfix's label rule does (``eosfix.labels``),
    so the audit counts as real exactly the EOS tokens the fix keeps.
    """
    import numpy as np

    from eosfix.labels import padding_mask, pre_padding

    input_ids = batch["input_ids"]
    attention_mask = batch.get("attention_mask")
    if attention_mask is not None and attention_mask.shape == input_ids.shape:
        return attention_mask != 0, "attention_mask"
    if pad_token_id is None or pad_token_id != eos_token_id:
        return np.ones(input_ids.shape, dtype=bool), "eos ids"
    if examples is not None and _total_length(examples) == input_ids.size:
        # Packed or padding-free (one row of several examples, position_ids instead of a mask): no padding at all.
        return np.ones(input_ids.shape, dtype=bool), "example lengths"
    if examples is not None and len(examples) == input_ids.shape[0]:
        padding = padding_mask(batch, examples, padding_side, pad_token_id, eos_token_id, warn=False)
        return ~padding, "example lengths"
    guessed, _ = pre_padding(input_ids, np.zeros(input_ids.shape, dtype=bool), pad_token_id, pad_is_eos=True)
    return ~guessed, "trailing pad runs"


def _total_length(examples):
    """How many tokens the examples hold together, or None when one has no length."""
    from collections.abc import Mapping

    try:
        return sum(len(example["input_ids"] if isinstance(example, Mapping) else example) for example in examples)
    except (TypeError, KeyError):
        return None


def count_eos_labels(batch, eos_token_id, pad_token_id=None, examples=None, padding_side="right"):
    """Count the EOS labels of one collated batch (torch, numpy or TensorFlow arrays).

    Returns a dict with ``eos_seen``, ``eos_labelled``, ``eos_lost``,
    ``eos_in_masked_spans`` (the real EOS whose label the loss does not read:
    inside a masked span, or a row's first token), ``has_labels`` and
    ``counted_by``. ``examples``
    (what the collator was called with) is read only when the batch has no
    attention mask.
    """
    arrays = {key: _to_numpy(batch[key]) for key in ("input_ids", "attention_mask", "labels") if key in batch}
    input_ids = arrays["input_ids"]
    real, counted_by = _real_token_mask(arrays, examples, eos_token_id, pad_token_id, padding_side)
    eos = real & (input_ids == eos_token_id)
    counts = {"eos_seen": int(eos.sum()), "has_labels": "labels" in arrays, "counted_by": counted_by}
    labels = arrays.get("labels")
    if labels is None:
        return {**counts, "eos_labelled": 0, "eos_lost": 0, "eos_in_masked_spans": 0}
    if labels.shape != input_ids.shape:
        raise ValueError(
            f"eosfix.audit: labels of shape {labels.shape} do not line up with input_ids {input_ids.shape}"
        )
    import numpy as np

    # The token before an EOS decides whether its label was dropped or masked
    # with its whole span (a prompt turn). A row's first label is never read
    # by the loss (the model predicts a token from the ones before it), so an
    # EOS there (a packed block can start with one) is neither kept nor lost.
    previous_labelled = np.zeros(labels.shape, dtype=bool)
    previous_labelled[:, 1:] = labels[:, :-1] != IGNORE_INDEX
    read = np.ones(labels.shape, dtype=bool)
    read[:, 0] = False
    labelled = eos & (labels == eos_token_id) & read
    lost = eos & (labels != eos_token_id) & previous_labelled
    return {
        **counts,
        "eos_labelled": int(labelled.sum()),
        "eos_lost": int(lost.sum()),
        "eos_in_masked_spans": int((eos & ~labelled & ~lost).sum()),
    }


def _is_loader(target):
    # accelerate's prepared loaders wrap a DataLoader and forward these attributes.
    return all(hasattr(target, name) for name in ("batch_sampler", "collate_fn", "dataset"))


def _is_trainer(target):
    return callable(getattr(target, "get_train_dataloader", None))


def _samplers(loader):
    """The loader's sampler chain: batch sampler, its sampler, and so on (accelerate nests them)."""
    seen: list[Any] = []
    pending = [getattr(loader, "batch_sampler", None), getattr(loader, "sampler", None)]
    while pending:
        sampler = pending.pop()
        if sampler is None or any(sampler is known for known in seen):
            continue
        seen.append(sampler)
        pending += [getattr(sampler, "sampler", None), getattr(sampler, "batch_sampler", None)]
    return seen


@contextlib.contextmanager
def _rng_preserved(loader=None):
    """Put every random state the draw can advance back as it was.

    A shuffling sampler without its own generator seeds itself from torch's
    global RNG, so drawing a batch would shift the order training sees; one
    with a generator advances that generator; accelerate's
    ``SeedableRandomSampler`` moves to the next epoch when it runs out.
    Collators may draw from torch, numpy or Python's ``random`` (MLM masking).
    """
    import random

    saved_random = random.getstate()
    numpy: Any = sys.modules.get("numpy")
    saved_numpy = numpy.random.get_state() if numpy is not None else None
    saved: list[tuple[Any, Any]] = []
    for owner in [loader, *_samplers(loader)] if loader is not None else []:
        generator: Any = getattr(owner, "generator", None)
        if hasattr(generator, "get_state"):
            saved.append((generator, generator.get_state()))
    # `is not None`: a truth test on a DataLoader calls len(), which raises for an IterableDataset without one.
    samplers = _samplers(loader) if loader is not None else []
    epochs = [(s, s.epoch) for s in samplers if isinstance(getattr(s, "epoch", None), int)]
    torch = sys.modules.get("torch")
    fork = torch.random.fork_rng(devices=[]) if torch is not None else contextlib.nullcontext()
    try:
        with fork:
            yield
    finally:
        random.setstate(saved_random)
        if saved_numpy is not None:
            numpy.random.set_state(saved_numpy)
        for generator, state in saved:
            generator.set_state(state)
        for sampler, epoch in epochs:
            sampler.epoch = epoch


class _NotDrawn(Exception):
    """The loader's batches cannot be drawn without taking data away from training; the message says why."""


def _length(obj):
    """``len(obj)``, or None when it has none (a sampler over an infinite or unsized source raises TypeError)."""
    try:
        return len(obj)
    except TypeError:
        return None


def _is_iterable_dataset(dataset):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(dataset, torch.utils.data.IterableDataset)


def _iterators_are_independent(dataset):
    # A 🤗 datasets IterableDataset builds every iterator afresh from its own
    # configuration (shards, shuffle seed and epoch), so a second one does not
    # move the first; for any other IterableDataset the audit cannot tell.
    return type(dataset).__module__.split(".")[0] == "datasets"


def _refuse_one_shot(iterable, stream, what):
    """Raise :class:`_NotDrawn` when ``stream`` is not an iterator of ``iterable``'s own.

    ``iter()`` on the data must give a new iterator each time: one that is the
    data itself (a generator, a file), or the same one on every call (an
    ``__iter__`` that returns an iterator it keeps), is the one training reads,
    and every example the audit read would be missing from it.
    """
    if stream is iterable:
        reason = "is its own iterator"
    elif iter(iterable) is stream:
        reason = "returns the same iterator each time it is iterated"
    else:
        return
    raise _NotDrawn(
        f"{what} ({type(iterable).__name__}) {reason}, so the examples the audit read would be missing from "
        "training; audit the collator with a few examples instead: eosfix.audit(collator, examples=[...])"
    )


@contextlib.contextmanager
def _new_iterator(dataset):
    """A new iterator over an iterable dataset, closed afterwards; refuses one that is shared (see above)."""
    stream = iter(dataset)
    _refuse_one_shot(dataset, stream, "the data set")
    try:
        yield stream
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _loader_batches(loader, count):
    """Yield up to ``count`` (batch, examples) pairs built the way the loader builds them.

    The draw does what a single-process DataLoader does: indices from the
    batch sampler, examples from the dataset, then ``collate_fn``. It never
    calls ``iter(loader)``, which would reset an iterator the program holds
    when ``persistent_workers`` is set, start worker processes, and hide the
    examples that the count needs when a batch has no attention mask. An
    ``IterableDataset`` is read through a new iterator of its own, at most
    ``count`` batches of it, so infinite streams are fine.
    """
    if loader.batch_sampler is None:
        return _unbatched(loader, count)
    if _is_iterable_dataset(loader.dataset):
        return _streamed_batches(loader, count)
    return _sampled_batches(loader, count)


def _unbatched(loader, count):
    """No automatic batching: ``collate_fn`` receives one sample at a time."""
    dataset = loader.dataset
    if _is_iterable_dataset(dataset):
        with _new_iterator(dataset) as stream:
            for sample in itertools.islice(stream, count):
                yield loader.collate_fn(sample), None
        return
    for index in itertools.islice(iter(loader.sampler), count):
        yield loader.collate_fn(dataset[index]), None


def _streamed_batches(loader, count):
    """Batches of an ``IterableDataset``, read through a new iterator of the audit's own."""
    batch_size: Any = getattr(loader, "batch_size", None)
    with _new_iterator(loader.dataset) as items:
        for _ in range(count):
            examples = list(itertools.islice(items, batch_size))
            if not examples or (loader.drop_last and len(examples) < batch_size):
                return
            yield loader.collate_fn(examples), examples


def _sampled_batches(loader, count):
    """Batches of a map-style dataset, from the indices of the loader's batch sampler."""
    # Never run the batch sampler to its end: accelerate's seedable sampler
    # steps to the next epoch when it does.
    length = _length(loader.batch_sampler)
    if length is not None:
        count = min(count, length)
    dataset = loader.dataset
    indices = iter(loader.batch_sampler)
    try:
        for batch_indices in itertools.islice(indices, count):
            getitems = getattr(dataset, "__getitems__", None)
            examples = getitems(batch_indices) if getitems else [dataset[i] for i in batch_indices]
            yield loader.collate_fn(examples), examples
    finally:
        if hasattr(indices, "close"):
            indices.close()


# Examples per batch when the examples have no length to share out (an iterator, a streaming data set).
DEFAULT_BATCH_SIZE = 8


def _collator_batches(collator, examples, count, batch_size):
    total = _length(examples)
    if total is None:
        # No length: read only what the batches need, in order, from an iterator of the audit's own.
        batch_size = batch_size or DEFAULT_BATCH_SIZE
        with _new_examples_iterator(examples) as stream:
            for _ in range(count):
                chunk = list(itertools.islice(stream, batch_size))
                if not chunk:
                    return
                yield collator(chunk), chunk
        return
    if batch_size is None:
        batch_size = max(1, -(-total // count))
    for start in range(0, min(total, count * batch_size), batch_size):
        chunk = [examples[i] for i in range(start, min(start + batch_size, total))]
        yield collator(chunk), chunk


@contextlib.contextmanager
def _new_examples_iterator(examples):
    stream = iter(examples)
    _refuse_one_shot(examples, stream, "examples")
    yield stream


def _tokenizer_of(obj):
    """The tokenizer an object carries: a collator's, a processor's, or the object itself."""
    for _ in range(3):
        if obj is None or hasattr(obj, "eos_token_id"):
            return obj
        # RemoveColumnsCollator wraps the user's collator; processors carry a tokenizer.
        obj = getattr(obj, "data_collator", None) or getattr(obj, "tokenizer", None)
    return None


def _trainer_tokenizer(trainer):
    # transformers 4.46 renamed Trainer.tokenizer to processing_class; reading
    # the old property on later releases warns, so look at vars() first.
    attributes = vars(trainer)
    for name in ("processing_class", "tokenizer"):
        if attributes.get(name) is not None:
            return _tokenizer_of(attributes[name])
    return None


def _unwrap_collator(collate_fn):
    return getattr(collate_fn, "data_collator", collate_fn)


def _collator_name(collator: Any) -> str:
    """A class's name for a collator object; a function's (or method's) own name for a plain ``collate_fn``."""
    if isinstance(collator, (types.FunctionType, types.MethodType)):
        return collator.__qualname__
    return type(collator).__name__


@dataclasses.dataclass
class _Draw:
    """The batches drawn for one audit, and where they came from."""

    collator: Any
    trainer: Any = None
    pairs: list = dataclasses.field(default_factory=list)  # (batch, examples or None)
    order_kept: bool | None = True
    not_drawn: str = ""

    def take(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Keep the pairs one by one, so that batches drawn before a refusal still count."""
        try:
            for pair in pairs:
                self.pairs.append(pair)
        except _NotDrawn as reason:
            self.not_drawn, self.order_kept = str(reason), True


def _draw_from_loader(target: Any, count: int) -> _Draw:
    trainer = target if _is_trainer(target) else None
    with _rng_preserved():
        # get_train_dataloader() builds a new loader; building it may construct samplers that read the global RNG.
        loader = target.get_train_dataloader() if trainer is not None else target
    draw = _Draw(collator=_unwrap_collator(loader.collate_fn), trainer=trainer)
    if _is_iterable_dataset(loader.dataset) and not _iterators_are_independent(loader.dataset):
        draw.order_kept = None
    with _rng_preserved(loader):
        draw.take(_loader_batches(loader, count))
    return draw


def _draw_from_collator(collator: Any, examples: Iterable[Any], count: int, batch_size: int | None) -> _Draw:
    draw = _Draw(collator=collator)
    with _rng_preserved():
        draw.take(_collator_batches(collator, examples, count, batch_size))
    return draw


def _draw(target: Any, examples: Iterable[Any] | None, count: int, batch_size: int | None) -> _Draw:
    if _is_trainer(target) or _is_loader(target):
        if examples is not None:
            raise TypeError("eosfix.audit: examples= goes with a collator; a DataLoader or Trainer brings its own")
        return _draw_from_loader(target, count)
    if callable(target):
        if examples is None:
            raise TypeError("eosfix.audit: to audit a collator, pass examples=[...] to collate")
        return _draw_from_collator(target, examples, count, batch_size)
    raise TypeError(f"eosfix.audit: expected a collator, a DataLoader or a Trainer, not {type(target).__name__}")


def _find_tokenizer(given: Any, draw: _Draw, fallback: Any) -> Any:
    """The tokenizer whose ids the batches use: the one given, the collator's, the fallback, the trainer's."""
    for candidate in (given, draw.collator, fallback):
        tokenizer = _tokenizer_of(candidate)
        if tokenizer is not None:
            break
    else:
        tokenizer = _trainer_tokenizer(draw.trainer) if draw.trainer is not None else None
    if tokenizer is None or getattr(tokenizer, "eos_token_id", None) is None:
        raise ValueError("eosfix.audit: found no tokenizer with an eos_token_id; pass tokenizer=...")
    return tokenizer


_COUNTS = ("eos_seen", "eos_labelled", "eos_lost", "eos_in_masked_spans")


def _sum_counts(pairs: list, tokenizer: Any) -> dict[str, Any]:
    """The counts of every drawn batch added up, whether all of them had labels, and how the last was read."""
    eos_id, pad_id = tokenizer.eos_token_id, getattr(tokenizer, "pad_token_id", None)
    padding_side = getattr(tokenizer, "padding_side", "right")
    totals: dict[str, Any] = dict.fromkeys(_COUNTS, 0)
    totals.update(has_labels=True, counted_by="attention_mask")
    for batch, examples in pairs:
        counts = count_eos_labels(batch, eos_id, pad_id, examples, padding_side)
        for key in _COUNTS:
            totals[key] += counts[key]
        totals["has_labels"] = totals["has_labels"] and counts["has_labels"]
        totals["counted_by"] = counts["counted_by"]
    return totals


def audit(
    target: Any,
    examples: Iterable[Any] | None = None,
    batches: int = 2,
    *,
    tokenizer: Any = None,
    batch_size: int | None = None,
    fallback_tokenizer: Any = None,
) -> EOSAudit:
    """Draw up to ``batches`` batches from ``target`` and count the EOS labels in them.

    ``target`` is one of

    - a collator (any callable that turns a list of examples into a batch),
      with ``examples``, what it is normally called with; a sequence is cut
      into ``batches`` batches of ``batch_size`` (by default, all of it in
      equal parts); an iterable without a length (a streaming data set) is
      read in order through a new iterator, ``batch_size`` (default 8)
      examples a batch, and no further than the batches need;
    - a torch ``DataLoader`` (accelerate's prepared loaders too), over a
      map-style or an iterable dataset, finite or not;
    - a transformers or TRL ``Trainer``: its ``get_train_dataloader()``.

    The eos and pad ids come from ``tokenizer`` when given (a processor is
    read through its ``tokenizer``), else from the collator's tokenizer, else
    from ``fallback_tokenizer``, else from the trainer's tokenizer or
    processing class. Returns an :class:`EOSAudit`.

    The audit never takes data from the program: drawing from a loader does
    not advance it (the batches are built from its batch sampler, dataset and
    ``collate_fn`` in this process, and torch's, numpy's and Python's random
    states, and the samplers' generators, are put back afterwards), so
    training sees the same batches in the same order. An ``IterableDataset``
    (or ``examples`` without a length) is read through a new iterator of its
    own; one that is its own iterator, or gives the same iterator every time
    (a generator, a one-shot stream), is not read at all, and the report
    says why (``not_drawn``).
    """
    if batches < 1:
        raise ValueError("eosfix.audit: batches must be at least 1")
    draw = _draw(target, examples, batches, batch_size)
    tokenizer = _find_tokenizer(tokenizer, draw, fallback_tokenizer)
    return EOSAudit(
        **_sum_counts(draw.pairs, tokenizer),
        patched=is_applied(),
        batches=len(draw.pairs),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=getattr(tokenizer, "pad_token_id", None),
        collator=_collator_name(draw.collator),
        order_kept=draw.order_kept,
        not_drawn=draw.not_drawn,
    )


def _advice(report: EOSAudit) -> str:
    if report.not_drawn and not report.batches:
        return report.not_drawn
    if not report.batches:
        return (
            "The data gave no batch to look at, so nothing was checked: audit a non-empty data set "
            "(with drop_last, one with at least a full batch)."
        )
    if not report.has_labels:
        return (
            "The batches carry no labels, so nothing was checked: check that the collator makes labels "
            "(DataCollatorForLanguageModeling with mlm=False does)."
        )
    if report.eos_lost and not report.patched:
        return (
            "Add `import eosfix.autopatch` (or call eosfix.apply()) before training, so EOS labels follow "
            "the attention mask instead of the pad id, or give the tokenizer a pad token distinct from EOS. "
            "If the script that started this process is patched, the switch did not reach it (a Ray "
            "worker, a rank on another node): pass runtime_env=eosfix.ray_runtime_env() to ray.init(), or "
            "set EOSFIX_AUTOPATCH=1 where the launcher starts it (README: Multi-process and multi-GPU)."
        )
    if report.eos_lost:
        return (
            f"eosfix is applied but {report.collator} still drops EOS labels: it does not go through "
            "DataCollatorForLanguageModeling, so give the tokenizer a pad token distinct from EOS, "
            "and report the collator to eosfix."
        )
    if report.eos_seen == 0:
        return (
            "No EOS token is in the batches, so nothing was checked and the model cannot learn to stop: append "
            "tokenizer.eos_token to every training text (or tokenize with an EOS-adding template), and check that "
            "the tokenizer's eos_token is the one your texts end with."
        )
    if report.eos_labelled == 0:
        return (
            "Every EOS in the batches sits inside a masked span (a prompt turn), so nothing was checked and the "
            "model cannot learn to stop: check that each completion ends with tokenizer.eos_token."
        )
    return "Nothing to do: every EOS the loss can read keeps its label."
