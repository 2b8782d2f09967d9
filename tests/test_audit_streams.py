"""The audit on inputs that are hard to read without taking data: loaders without a length, infinite and shuffled
streams, one-shot iterables, and inputs with nothing to judge."""

import itertools
import logging
from pathlib import Path

import pytest
from helpers import audit_stock_then_fixed, build_tokenizer, tiny_model

import eosfix
from eosfix.diagnostics.audit import EOSAudit, EOSLabelError, audit

TESTS = Path(__file__).resolve().parent
TEXTS = ["the cat sat </s>", "a dog </s> ran </s>", "the mat </s>", "yes no </s>", "cat </s>", "a </s>"]
EOS_IN_TEXTS = sum(text.split().count("</s>") for text in TEXTS)


def lm_collator(tok):
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tok, mlm=False)


def stream_class():
    import torch

    class Stream(torch.utils.data.IterableDataset):
        """A torch IterableDataset without __len__; ``repeat=None`` streams for ever."""

        def __init__(self, tok, repeat=1, shuffle=False):
            self.tok, self.repeat, self.shuffle, self.pulled = tok, repeat, shuffle, 0

        def __iter__(self):
            rounds = itertools.count() if self.repeat is None else range(self.repeat)
            for _ in rounds:
                # Shuffling from torch's global RNG, as many hand-written streams do.
                order = torch.randperm(len(TEXTS)).tolist() if self.shuffle else range(len(TEXTS))
                for index in order:
                    self.pulled += 1
                    yield dict(self.tok(TEXTS[index]))

    return Stream


def stream_loader(tok, **kwargs):
    import torch

    return torch.utils.data.DataLoader(stream_class()(tok, **kwargs), batch_size=2, collate_fn=lm_collator(tok))


def hf_stream(tok, shuffle=False):
    from datasets import Dataset

    stream = Dataset.from_list([dict(tok(text)) for text in TEXTS]).to_iterable_dataset(num_shards=3)
    return stream.shuffle(seed=3, buffer_size=4) if shuffle else stream


def hf_stream_loader(tok, shuffle=False):
    import torch

    return torch.utils.data.DataLoader(hf_stream(tok, shuffle), batch_size=2, collate_fn=lm_collator(tok))


def assert_stock_and_fixed(stock, fixed):
    assert stock.status == EOSAudit.LOST and not stock.ok and stock.eos_lost == stock.eos_seen > 0
    assert fixed.status == EOSAudit.OK and fixed.ok and fixed.eos_labelled == fixed.eos_seen == stock.eos_seen


def order(loader):
    return [batch["input_ids"].tolist() for batch in loader]


# --- audit on loaders without a length -------------------------------------------------------------------


@pytest.mark.parametrize("make_loader", [stream_loader, hf_stream_loader], ids=["torch-iterable", "hf-streaming"])
@pytest.mark.requires_torch
def test_audit_on_a_loader_without_length(make_loader, unpatched):
    tok = build_tokenizer()
    stock, fixed = audit_stock_then_fixed(lambda: make_loader(tok), batches=2)
    assert_stock_and_fixed(stock, fixed)
    assert stock.batches == 2 and stock.collator == "DataCollatorForLanguageModeling"


@pytest.mark.requires_torch
def test_audit_reads_at_most_the_batches_asked_from_an_infinite_stream(unpatched):
    tok = build_tokenizer()
    loader = stream_loader(tok, repeat=None)
    report = audit(loader, batches=3)
    assert report.batches == 3 and loader.dataset.pulled == 3 * 2
    assert report.order_kept is None and "data order" in str(report)


@pytest.mark.requires_torch
def test_audit_with_an_infinite_sampler(unpatched):
    # A BatchSampler over a sampler without __len__ has __len__, and it raises TypeError.
    import torch

    class Forever(torch.utils.data.Sampler):
        def __init__(self):
            pass

        def __iter__(self):
            return itertools.cycle(range(len(TEXTS)))

    tok = build_tokenizer()
    examples = [tok(text) for text in TEXTS]
    loader = torch.utils.data.DataLoader(examples, batch_size=2, sampler=Forever(), collate_fn=lm_collator(tok))
    report = audit(loader, batches=4)
    assert report.batches == 4 and report.status == EOSAudit.LOST


@pytest.mark.requires_torch
def test_audit_without_automatic_batching_on_a_stream(unpatched):
    import torch

    tok = build_tokenizer()
    collator = lm_collator(tok)
    loader = torch.utils.data.DataLoader(
        stream_class()(tok), batch_size=None, collate_fn=lambda example: collator([example])
    )
    assert audit(loader, batches=2, tokenizer=tok).batches == 2


@pytest.mark.requires_torch
def test_audit_keeps_the_order_of_a_stream_shuffled_from_the_global_rng(unpatched):
    import torch

    tok = build_tokenizer()
    loader = stream_loader(tok, shuffle=True)
    torch.manual_seed(5)
    expected = order(loader)
    torch.manual_seed(5)
    audit(loader, batches=2)
    assert order(loader) == expected


@pytest.mark.requires_torch
def test_audit_keeps_the_order_of_a_shuffled_hf_stream(unpatched):
    tok = build_tokenizer()
    loader = hf_stream_loader(tok, shuffle=True)
    expected = order(loader)
    report = audit(loader, batches=2)
    assert order(loader) == expected
    # 🤗 datasets builds every iterator afresh, so the order is known to be kept.
    assert report.order_kept is True and "data order" not in str(report)


@pytest.mark.requires_torch
def test_a_dataset_that_is_its_own_iterator_is_not_read(unpatched):
    import torch

    tok = build_tokenizer()

    class OneShot(torch.utils.data.IterableDataset):
        def __init__(self):
            self.items = iter([dict(tok(text)) for text in TEXTS])

        def __iter__(self):
            return self

        def __next__(self):
            return next(self.items)

    dataset = OneShot()
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=lm_collator(tok))
    report = audit(loader)
    assert report.batches == 0 and report.status == EOSAudit.NOTHING_TO_JUDGE and not report.ok
    assert "its own iterator" in report.advice and "examples=" in report.advice
    assert len(list(loader)) == 3  # training still gets every example


@pytest.mark.requires_torch
def test_audit_of_a_collator_with_examples_without_length(unpatched):
    tok = build_tokenizer()
    # An infinite generator is its own iterator: reading it would take examples from whoever reads it next.
    examples = (tok(text) for text in itertools.cycle(TEXTS))
    report = audit(lm_collator(tok), examples=examples, batches=2, batch_size=3)
    assert report.batches == 0 and "its own iterator" in report.not_drawn
    assert next(examples)["input_ids"] == tok(TEXTS[0])["input_ids"]

    class Endless:  # iterable afresh each time, no length
        def __iter__(self):
            return (tok(text) for text in itertools.cycle(TEXTS))

    report = audit(lm_collator(tok), examples=Endless(), batches=2, batch_size=3)
    assert report.batches == 2 and report.status == EOSAudit.LOST
    hf = audit(lm_collator(tok), examples=hf_stream(tok), batches=1)
    assert hf.batches == 1 and hf.eos_seen == EOS_IN_TEXTS


def make_stream_trainer(tmp_path, tok, dataset, callbacks=()):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        max_steps=2,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    return Trainer(
        tiny_model(len(tok)),
        args=args,
        train_dataset=dataset,
        data_collator=lm_collator(tok),
        callbacks=list(callbacks),
    )


@pytest.mark.parametrize("kind", ["torch-iterable", "hf-streaming"])
@pytest.mark.requires_torch
def test_audit_of_a_trainer_on_a_stream(kind, tmp_path, unpatched):
    tok = build_tokenizer()

    def trainer():
        dataset = stream_class()(tok) if kind == "torch-iterable" else hf_stream(tok)
        return make_stream_trainer(tmp_path, tok, dataset)

    stock, fixed = audit_stock_then_fixed(trainer)
    assert_stock_and_fixed(stock, fixed)


@pytest.mark.parametrize("kind", ["torch-iterable", "hf-streaming"])
@pytest.mark.requires_torch
def test_strict_callback_trains_on_a_stream_with_eosfix(kind, tmp_path, unpatched):
    from eosfix.diagnostics.trainer_callback import EOSLabelCallback

    tok = build_tokenizer()
    dataset = stream_class()(tok, repeat=None) if kind == "torch-iterable" else hf_stream(tok)
    callback = EOSLabelCallback(strict=True)
    with eosfix.patched():
        result = make_stream_trainer(tmp_path, tok, dataset, [callback]).train()
    assert result.global_step == 2
    assert callback.report.ok and callback.report.eos_seen > 0

    # And stock, the same setup stops before the first step.
    with pytest.raises(EOSLabelError, match="lost their label"):
        make_stream_trainer(tmp_path, tok, hf_stream(tok), [EOSLabelCallback(strict=True)]).train()


# --- an honest `ok`: nothing to judge ---------------------------------------------------------------------


@pytest.mark.requires_torch
def test_no_batch_is_nothing_to_judge(unpatched):
    import torch

    tok = build_tokenizer()
    for report in (
        audit(lm_collator(tok), examples=[]),
        audit(torch.utils.data.DataLoader([], batch_size=2, collate_fn=lm_collator(tok))),
        audit(torch.utils.data.DataLoader(stream_class()(tok, repeat=0), batch_size=2, collate_fn=lm_collator(tok))),
    ):
        assert report.batches == 0 and report.status == EOSAudit.NOTHING_TO_JUDGE and report.ok is False
        assert "nothing was checked" in report.advice
        assert str(report).startswith("EOS label audit: NOT OK, nothing to judge")


@pytest.mark.requires_torch
def test_no_eos_is_nothing_to_judge(unpatched):
    tok = build_tokenizer()
    with eosfix.patched():
        report = audit(lm_collator(tok), examples=[tok("the cat"), tok("a dog ran")])
    assert report.eos_seen == 0 and report.ok is False and report.status == EOSAudit.NOTHING_TO_JUDGE
    assert "eos_token" in report.advice


@pytest.mark.requires_torch
def test_batches_without_labels_are_nothing_to_judge(unpatched):
    from transformers import DataCollatorWithPadding

    tok = build_tokenizer()
    report = audit(DataCollatorWithPadding(tok), examples=[tok(text) for text in TEXTS])
    assert report.has_labels is False and report.ok is False and report.status == EOSAudit.NOTHING_TO_JUDGE
    assert "labels" in report.advice


def test_eos_only_inside_masked_spans_is_nothing_to_judge():
    import numpy as np

    tok = build_tokenizer()
    eos = tok.eos_token_id

    def collator(examples):
        ids = np.array([example["input_ids"] for example in examples])
        return {"input_ids": ids, "attention_mask": np.ones_like(ids), "labels": np.full_like(ids, -100)}

    report = audit(collator, examples=[{"input_ids": [5, 6, eos, 7]}], tokenizer=tok)
    assert report.eos_in_masked_spans == 1 and report.status == EOSAudit.NOTHING_TO_JUDGE and not report.ok


@pytest.mark.requires_torch
def test_strict_callback_does_not_stop_training_on_nothing_to_judge(tmp_path, unpatched, caplog):
    from datasets import Dataset

    from eosfix.diagnostics.trainer_callback import EOSLabelCallback

    tok = build_tokenizer()
    dataset = Dataset.from_list([dict(tok(text)) for text in ("the cat", "a dog ran", "yes no")])
    callback = EOSLabelCallback(strict=True)
    with eosfix.patched(), caplog.at_level(logging.WARNING, logger="eosfix"):
        result = make_stream_trainer(tmp_path, tok, dataset, [callback]).train()
    assert result.global_step == 2 and callback.report.status == EOSAudit.NOTHING_TO_JUDGE
    assert any("nothing to judge" in record.getMessage() for record in caplog.records)


@pytest.mark.requires_torch
def test_strict_callback_does_not_stop_training_when_the_audit_cannot_run(tmp_path, unpatched, caplog):
    # A collator without a tokenizer, and a Trainer without one: the audit cannot name the EOS id.
    from datasets import Dataset

    from eosfix.diagnostics.trainer_callback import EOSLabelCallback

    tok = build_tokenizer()
    inner = lm_collator(tok)
    dataset = Dataset.from_list([dict(tok(text)) for text in TEXTS])
    trainer = make_stream_trainer(tmp_path, tok, dataset, [EOSLabelCallback(strict=True)])
    trainer.data_collator = lambda examples: inner(examples)
    with caplog.at_level(logging.WARNING, logger="eosfix"):
        assert trainer.train().global_step == 2
    assert any("could not audit" in record.getMessage() for record in caplog.records)
