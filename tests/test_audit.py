"""eosfix.audit and EOSLabelCallback: they see the bug stock, see it fixed with eosfix, and move no data.

Every audit is measured stock first (coverage 0, not ok), then with the patch
(coverage 1, ok), on each kind of target: a collator, a DataLoader, a
Trainer, and TRL's SFTTrainer built without a collator.
"""

import logging
import warnings

import numpy as np
import pytest
from helpers import audit_stock_then_fixed, build_tokenizer, installed, run_python, sft_trainer, tiny_model, version_in

import eosfix
from eosfix.diagnostics.audit import EOSLabelError, EOSLabelWarning, audit, count_eos_labels

# Trainer, DataLoader and model code: torch throughout (tests/conftest.py skips it, with the reason, without torch).
pytestmark = pytest.mark.requires_torch


TEXTS = (
    "the cat sat on the mat </s>",
    "a dog ran </s>",
    "yes </s> no </s>",
    "the dog sat </s>",
    "Question: cat Answer: yes </s>",
    "a mat </s>",
    "the cat ran on a mat </s>",
    "no </s>",
)


def assert_broken(report):
    assert report.eos_seen > 0
    assert report.eos_labelled == 0 and report.eos_lost == report.eos_seen
    assert report.coverage == 0.0 and report.ok is False
    assert report.pad_is_eos is True and report.patched is False
    assert "eosfix.autopatch" in report.advice


def assert_fixed(report):
    assert report.eos_seen > 0
    assert report.eos_labelled == report.eos_seen and report.eos_lost == 0
    assert report.coverage == 1.0 and report.ok is True
    assert report.patched is True
    assert report.advice.startswith("Nothing to do")


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("return_tensors", ["pt", "np"])
def test_collator(padding_side, return_tensors, unpatched):
    from transformers import DataCollatorForLanguageModeling

    tok = build_tokenizer(padding_side=padding_side)
    examples = [tok(text) for text in TEXTS]
    stock, fixed = audit_stock_then_fixed(
        lambda: DataCollatorForLanguageModeling(tok, mlm=False, return_tensors=return_tensors), examples=examples
    )
    assert_broken(stock)
    assert_fixed(fixed)
    # Two batches of four: every example was collated, each EOS counted once.
    assert stock.batches == 2 and stock.eos_seen == sum(text.split().count("</s>") for text in TEXTS)
    assert stock.counted_by == "attention_mask"


def test_collator_without_attention_mask_counts_the_examples_eos(unpatched):
    from transformers import DataCollatorForLanguageModeling

    tok = build_tokenizer(with_attention_mask=False)
    id_lists = [tok(text)["input_ids"] for text in TEXTS]
    stock, fixed = audit_stock_then_fixed(lambda: DataCollatorForLanguageModeling(tok, mlm=False), examples=id_lists)
    assert_broken(stock)
    assert_fixed(fixed)
    # Without a mask the padding (also EOS ids) is told apart by the examples' lengths.
    assert stock.counted_by == "example lengths"
    assert stock.eos_seen == sum(text.split().count("</s>") for text in TEXTS)


def make_loader(tok, shuffle=True, generator=None):
    import torch
    from transformers import DataCollatorForLanguageModeling

    examples = [tok(text) for text in TEXTS]
    return torch.utils.data.DataLoader(
        examples,
        batch_size=3,
        shuffle=shuffle,
        generator=generator,
        collate_fn=DataCollatorForLanguageModeling(tok, mlm=False),
    )


def test_dataloader(unpatched):
    tok = build_tokenizer()
    stock, fixed = audit_stock_then_fixed(lambda: make_loader(tok), batches=3)
    assert_broken(stock)
    assert_fixed(fixed)
    assert stock.batches == 3 and stock.collator == "DataCollatorForLanguageModeling"


def make_trainer(tmp_path, tok, callbacks=None, collator=None, tokenizer=None):
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    dataset = Dataset.from_list([dict(tok(text)) for text in TEXTS])
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        max_steps=1,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    # transformers 4.46 renamed Trainer(tokenizer=) to processing_class.
    tokenizer_arg = "processing_class" if version_in("transformers", ">=4.46") else "tokenizer"
    return Trainer(
        tiny_model(len(tok)),
        args=args,
        train_dataset=dataset,
        data_collator=collator or DataCollatorForLanguageModeling(tok, mlm=False),
        callbacks=callbacks,
        **({tokenizer_arg: tokenizer} if tokenizer is not None else {}),
    )


def test_trainer(tmp_path, unpatched):
    tok = build_tokenizer()
    stock, fixed = audit_stock_then_fixed(lambda: make_trainer(tmp_path, tok))
    assert_broken(stock)
    assert_fixed(fixed)


def test_trainer_tokenizer_is_the_fallback(tmp_path, unpatched):
    from transformers import DataCollatorForLanguageModeling

    tok = build_tokenizer()
    inner = DataCollatorForLanguageModeling(tok, mlm=False)

    def collate(examples):  # a collator that carries no tokenizer
        return inner(examples)

    examples = [tok(text) for text in TEXTS]
    with pytest.raises(ValueError, match="pass tokenizer="):
        audit(collate, examples=examples)
    assert audit(collate, examples=examples, tokenizer=tok).coverage == 0.0
    report = audit(make_trainer(tmp_path, tok, collator=collate, tokenizer=tok))
    assert report.eos_token_id == tok.eos_token_id and report.coverage == 0.0


@pytest.mark.skipif(
    not (installed("trl") and version_in("trl", "<0.16.1")),
    reason="needs trl < 0.16.1, whose SFTTrainer defaults to transformers' collator",
)
def test_sft_trainer_without_collator(tmp_path, unpatched):
    stock, fixed = audit_stock_then_fixed(lambda: sft_trainer(tmp_path, build_tokenizer(), list(TEXTS) * 2))
    assert_broken(stock)
    assert_fixed(fixed)


def test_eos_in_a_masked_prompt_span_is_not_lost():
    # A completion-only collator masks a whole prompt turn, EOS included, on
    # purpose; only an EOS after a labelled token can have lost its label.
    eos = 2
    input_ids = np.array([[5, 6, eos, 7, 8, eos, eos]])
    attention_mask = np.array([[1, 1, 1, 1, 1, 1, 0]])
    masked_prompt = np.array([[-100, -100, -100, 7, 8, eos, -100]])
    counts = count_eos_labels(
        {"input_ids": input_ids, "attention_mask": attention_mask, "labels": masked_prompt}, eos, eos
    )
    assert counts["eos_seen"] == 2 and counts["eos_labelled"] == 1
    assert counts["eos_in_masked_spans"] == 1 and counts["eos_lost"] == 0
    stock = np.array([[-100, -100, -100, 7, 8, -100, -100]])
    counts = count_eos_labels({"input_ids": input_ids, "attention_mask": attention_mask, "labels": stock}, eos, eos)
    assert counts["eos_lost"] == 1 and counts["eos_in_masked_spans"] == 1


def test_an_eos_at_a_row_start_is_neither_kept_nor_lost():
    # A packed block can begin with the EOS that closed the previous document: the loss never reads a row's
    # first label, so that EOS counts apart whatever its label, stock or fixed.
    eos = 2
    input_ids = np.array([[eos, 5, 6, eos, 7]])
    attention_mask = np.ones_like(input_ids)
    for labels, kept, lost in (([[eos, 5, 6, eos, 7]], 1, 0), ([[-100, 5, 6, -100, 7]], 0, 1)):
        counts = count_eos_labels(
            {"input_ids": input_ids, "attention_mask": attention_mask, "labels": np.array(labels)}, eos, eos
        )
        assert counts["eos_seen"] == 2 and counts["eos_in_masked_spans"] == 1
        assert counts["eos_labelled"] == kept and counts["eos_lost"] == lost


def test_without_mask_or_examples_the_first_eos_of_a_trailing_run_is_real():
    # The guess eosfix's rule makes for pre-padded rows: of a leading run the
    # last pad id is the example's own (a BOS that is the EOS), of a trailing
    # run the first (the EOS); the rest is padding.
    eos = 2
    input_ids = np.array([[5, eos, eos, eos], [eos, eos, 6, eos]])
    stock = np.where(input_ids == eos, -100, input_ids)
    counts = count_eos_labels({"input_ids": input_ids, "labels": stock}, eos, eos)
    assert counts["counted_by"] == "trailing pad runs"
    assert counts["eos_seen"] == 3 and counts["eos_lost"] == 2 and counts["eos_in_masked_spans"] == 1
    fixed = np.array([[5, eos, -100, -100], [-100, eos, 6, eos]])
    counts = count_eos_labels({"input_ids": input_ids, "labels": fixed}, eos, eos)
    assert counts["eos_labelled"] == 3 and counts["eos_lost"] == 0


def test_no_eos_in_the_data_is_reported(unpatched):
    from transformers import DataCollatorForLanguageModeling

    tok = build_tokenizer()
    report = audit(DataCollatorForLanguageModeling(tok, mlm=False), examples=[tok("the cat"), tok("a dog ran")])
    assert report.eos_seen == 0 and report.coverage is None and report.ok is False
    assert "eos_token" in report.advice


def test_report_reads_well_and_serializes(unpatched):
    import json

    from transformers import DataCollatorForLanguageModeling

    tok = build_tokenizer()
    report = audit(DataCollatorForLanguageModeling(tok, mlm=False), examples=[tok(t) for t in TEXTS])
    text = repr(report)
    assert text.startswith("EOS label audit: NOT OK") and "coverage 0%" in text and report.advice in text
    data = json.loads(json.dumps(report.to_dict()))
    for key in ("eos_seen", "eos_labelled", "coverage", "pad_is_eos", "patched", "ok", "advice"):
        assert key in data


def test_wrong_targets_are_explained():
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(build_tokenizer(), mlm=False)
    with pytest.raises(TypeError, match="examples="):
        audit(collator)
    with pytest.raises(TypeError, match="not int"):
        audit(3)


def batch_order(loader):
    return [batch["input_ids"].tolist() for batch in loader]


def test_audit_keeps_the_order_of_a_shuffled_dataloader(unpatched):
    import torch

    tok = build_tokenizer()
    loader = make_loader(tok)
    torch.manual_seed(1)
    expected = batch_order(loader)

    # The trap the audit avoids: a fresh iterator over a shuffling loader
    # draws its seed from torch's global RNG and shifts the order.
    torch.manual_seed(1)
    next(iter(loader))
    assert batch_order(loader) != expected

    torch.manual_seed(1)
    audit(loader, batches=10)
    assert batch_order(loader) == expected


def test_audit_keeps_the_order_of_a_loader_with_its_own_generator(unpatched):
    import torch

    tok = build_tokenizer()
    generator = torch.Generator().manual_seed(7)
    loader = make_loader(tok, generator=generator)
    state = generator.get_state()
    expected = batch_order(loader)
    generator.set_state(state)
    audit(loader)
    assert batch_order(loader) == expected


def test_audit_keeps_the_order_of_a_trainer_loader(tmp_path, unpatched):
    # accelerate's seedable sampler moves to its next epoch when it runs out;
    # the audit asks for more batches than there are and must not run it out.
    import torch

    tok = build_tokenizer()
    trainer = make_trainer(tmp_path, tok)
    # transformers <= 4.31 seeds each new loader's sampler from torch's global
    # RNG, so both loaders are made from the same RNG state.
    state = torch.get_rng_state()
    audited = trainer.get_train_dataloader()
    torch.set_rng_state(state)
    untouched = trainer.get_train_dataloader()
    audit(audited, batches=10)
    # Without a generator of its own, a sampler draws its seed from the global
    # RNG when iterated (transformers 4.31), so each order starts from one state.
    state = torch.get_rng_state()
    order_after_audit = batch_order(audited)
    torch.set_rng_state(state)
    assert order_after_audit == batch_order(untouched)


def test_audit_does_not_advance_an_iterator_in_use(unpatched):
    tok = build_tokenizer()
    loader = make_loader(tok, shuffle=False)
    expected = batch_order(loader)
    running = iter(loader)
    first = next(running)["input_ids"].tolist()
    audit(loader)
    assert [first, *(batch["input_ids"].tolist() for batch in running)] == expected


def train_with_callback(tmp_path, callback):
    trainer = make_trainer(tmp_path, build_tokenizer(), callbacks=[callback])
    trainer.train()
    return callback


def test_callback_warns_on_the_broken_setup(tmp_path, unpatched, caplog):
    from eosfix.diagnostics.trainer_callback import EOSLabelCallback

    with caplog.at_level(logging.WARNING, logger="eosfix"), pytest.warns(EOSLabelWarning, match="lost their label"):
        callback = train_with_callback(tmp_path, EOSLabelCallback())
    assert callback.report is not None and not callback.report.ok
    assert any("lost their label" in record.getMessage() for record in caplog.records if record.name == "eosfix")


def test_callback_strict_raises_before_training(tmp_path, unpatched):
    from eosfix.diagnostics.trainer_callback import EOSLabelCallback

    with pytest.raises(EOSLabelError, match="lost their label") as raised:
        train_with_callback(tmp_path, EOSLabelCallback(strict=True))
    assert isinstance(raised.value, RuntimeError) and raised.value.report.coverage == 0.0


def test_callback_is_quiet_when_fixed(tmp_path, unpatched, caplog):
    from eosfix.diagnostics.trainer_callback import EOSLabelCallback

    with eosfix.patched(), warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, "eosfix"):
        warnings.simplefilter("always")
        callback = train_with_callback(tmp_path, EOSLabelCallback(strict=True))
    assert callback.report.ok and callback.report.coverage == 1.0
    assert not [w for w in caught if issubclass(w.category, EOSLabelWarning)]
    assert not [record for record in caplog.records if record.name == "eosfix"]


def test_package_attribute_stays_the_function():
    # The audit lives in eosfix.diagnostics.audit, so importing it cannot shadow the function eosfix.audit.
    result, _ = run_python(
        """
        import json
        import eosfix.diagnostics.audit
        from eosfix.diagnostics.audit import EOSAudit
        import eosfix
        print(json.dumps([callable(eosfix.audit), eosfix.audit.__name__]))
        """
    )
    assert result == [True, "audit"]
