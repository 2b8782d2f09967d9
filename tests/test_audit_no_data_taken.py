"""eosfix.audit takes no data from the program: after it, training reads exactly the batches it would have read.

Each data source is read twice the same way, once with an audit in between; the batches must match. Sources that
cannot be read again without taking data (a one-shot stream, a generator) are not read at all, and the report says
why; sources that can (an IterableDataset whose ``__iter__`` starts afresh, with or without ``__len__``; a 🤗
streaming data set) are audited, and still give training every batch.
"""

import pytest
from helpers import build_tokenizer

from eosfix.diagnostics.audit import EOSAudit, audit

pytestmark = pytest.mark.requires_torch

TEXTS = [f"{words} </s>" for words in ("the cat sat", "a dog ran on the mat", "yes", "no the cat", "a mat", "the dog")]


def collator(tok):
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tok, mlm=False)


def encoded(tok):
    return [dict(tok(text)) for text in TEXTS]


def make_datasets():
    """The IterableDataset shapes a user writes: (name, factory taking the examples)."""
    import torch

    class OneShot(torch.utils.data.IterableDataset):
        """``__iter__`` returns the same iterator each time (a wrapped stream, a queue reader)."""

        def __init__(self, examples):
            self.stream = iter(examples)

        def __iter__(self):
            return self.stream

    class OwnIterator(torch.utils.data.IterableDataset):
        """The dataset is its own iterator."""

        def __init__(self, examples):
            self.stream = iter(examples)

        def __iter__(self):
            return self

        def __next__(self):
            return next(self.stream)

    class Fresh(torch.utils.data.IterableDataset):
        """``__iter__`` starts afresh (a generator function), no ``__len__``."""

        def __init__(self, examples):
            self.examples = examples

        def __iter__(self):
            yield from self.examples

    class FreshSized(Fresh):
        def __len__(self):
            return len(self.examples)

    return {"one-shot": OneShot, "own iterator": OwnIterator, "fresh": Fresh, "fresh with len": FreshSized}


REFUSED = ("one-shot", "own iterator")
READ = ("fresh", "fresh with len")


def ids(batches):
    return [batch["input_ids"].tolist() for batch in batches]


@pytest.mark.parametrize("kind", REFUSED + READ)
def test_iterable_dataset_gives_training_every_batch(kind):
    import torch

    tok = build_tokenizer()
    cls = make_datasets()[kind]
    expected = ids(torch.utils.data.DataLoader(cls(encoded(tok)), batch_size=2, collate_fn=collator(tok)))
    loader = torch.utils.data.DataLoader(cls(encoded(tok)), batch_size=2, collate_fn=collator(tok))

    report = audit(loader, batches=2)

    assert ids(loader) == expected and len(expected) == 3
    if kind in REFUSED:
        assert report.batches == 0 and report.status == EOSAudit.NOTHING_TO_JUDGE
        assert "missing from training" in report.not_drawn and report.advice == report.not_drawn
        assert "not audited" in report.summary()
    else:
        # Read through an iterator of its own: the stock bug is seen.
        assert report.batches == 2 and report.status == EOSAudit.LOST and report.eos_lost == 4


def test_generator_examples_are_not_read():
    tok = build_tokenizer()
    examples = encoded(tok)
    stream = (example for example in examples)
    report = audit(collator(tok), examples=stream)
    assert report.batches == 0 and "its own iterator" in report.not_drawn
    assert list(stream) == examples


def test_streaming_dataset_gives_training_every_batch():
    # A 🤗 datasets IterableDataset (what load_dataset(..., streaming=True) returns), built offline.
    import torch
    from datasets import Dataset

    tok = build_tokenizer()

    def loader():
        stream = Dataset.from_list(encoded(tok)).to_iterable_dataset()
        return torch.utils.data.DataLoader(stream, batch_size=2, collate_fn=collator(tok))

    expected = ids(loader())
    audited = loader()
    report = audit(audited, batches=2)
    assert report.batches == 2 and report.status == EOSAudit.LOST and report.order_kept is True
    assert ids(audited) == expected

    # Also as examples for a collator: read through a new iterator, in order, no further than needed.
    stream = Dataset.from_list(encoded(tok)).to_iterable_dataset()
    report = audit(collator(tok), examples=stream, batches=1, batch_size=2)
    assert report.batches == 1 and report.eos_seen == 2
    assert [row["input_ids"] for row in stream] == [row["input_ids"] for row in encoded(tok)]
