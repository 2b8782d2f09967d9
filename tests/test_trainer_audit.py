"""The zero-code Trainer audit: with eosfix active, every Trainer audits its first batch when training starts.

eosfix wraps transformers' ``CallbackHandler.on_train_begin`` (``eosfix.targets.transformers_trainer_audit``):
no callback to add, no change to the script. Each test trains a tiny model for a step and reads the one line the
audit logs; the switches (``EOSFIX_AUDIT``, ``EOSFIX_AUTOPATCH=audit``) are read from the environment.
"""

import logging
import pickle
import types

import pytest
from helpers import build_tokenizer, installed, lm_trainer, require_wheel, run_python, sft_trainer, version_in

import eosfix
from eosfix._api import audit_trainers
from eosfix.diagnostics.audit import EOSLabelError

pytestmark = pytest.mark.requires_torch

TEXTS = ["the cat sat </s>", "a dog ran on the mat </s>", "yes </s>", "no the cat </s>"] * 2


def dataset(tok):
    from datasets import Dataset

    return Dataset.from_list([dict(tok(text)) for text in TEXTS])


def audit_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "eosfix" and "EOS label audit" in r.getMessage()]


def original_on_train_begin():
    from transformers.trainer_callback import CallbackHandler

    return vars(CallbackHandler)["on_train_begin"]


def test_audit_only_reports_the_stock_loss(tmp_path, unpatched, clean_environ, caplog):
    tok = build_tokenizer()
    audit_trainers()
    with caplog.at_level(logging.INFO, logger="eosfix"):
        lm_trainer(tmp_path, tok, dataset(tok)).train()
    (line,) = audit_lines(caplog)
    assert "(DataCollatorForLanguageModeling, batch): 0 of 4 real EOS the loss reads kept their label, 4 lost" in line
    assert "EOSFIX_AUTOPATCH=1" in line and "patch not applied" in line
    assert [r.levelno for r in caplog.records if r.getMessage() == line] == [logging.WARNING]


def test_applied_reports_every_eos_kept(tmp_path, unpatched, clean_environ, caplog):
    tok = build_tokenizer()
    with eosfix.patched(), caplog.at_level(logging.INFO, logger="eosfix"):
        lm_trainer(tmp_path, tok, dataset(tok)).train()
    (line,) = audit_lines(caplog)
    assert "4 of 4 real EOS the loss reads kept their label, 0 lost it; eosfix patch applied" in line


def test_a_subclass_and_a_plain_collate_fn_are_audited(tmp_path, unpatched, clean_environ, caplog):
    from transformers import Trainer

    class MyTrainer(Trainer):  # LLaMA-Factory's and axolotl's trainers are subclasses like this one
        def compute_loss(self, model, inputs, *args, **kwargs):
            return super().compute_loss(model, inputs, *args, **kwargs)

    tok = build_tokenizer()

    def collate_fn(examples):  # a user's collator that masks labels by the pad id's value
        batch = tok.pad(examples, return_tensors="pt")
        labels = batch["input_ids"].clone()
        labels[labels == tok.pad_token_id] = -100
        batch["labels"] = labels
        return batch

    with eosfix.patched(), caplog.at_level(logging.INFO, logger="eosfix"):
        lm_trainer(tmp_path, tok, dataset(tok), collator=collate_fn, trainer_class=MyTrainer).train()
    (line,) = audit_lines(caplog)
    # The patch cannot reach the user's own code; the line names it and says what to do instead.
    assert "(test_a_subclass_and_a_plain_collate_fn_are_audited.<locals>.collate_fn, batch)" in line
    assert "4 lost it" in line and "pad token distinct from EOS" in line


@pytest.mark.skipif(
    not (installed("trl") and version_in("trl", "<0.16.1")),
    reason="needs trl < 0.16.1, whose SFTTrainer defaults to transformers' collator",
)
def test_trl_sft_trainer_is_audited_stock_and_fixed(tmp_path, unpatched, clean_environ, caplog):
    tok = build_tokenizer()
    texts = TEXTS * 2
    audit_trainers()
    with caplog.at_level(logging.INFO, logger="eosfix"):
        sft_trainer(tmp_path, tok, texts).train()
    with eosfix.patched(), caplog.at_level(logging.INFO, logger="eosfix"):
        sft_trainer(tmp_path, tok, texts).train()
    stock, fixed = audit_lines(caplog)
    assert "(DataCollatorForLanguageModeling, batch): 0 of 4 real EOS the loss reads kept their label, 4 lost" in stock
    assert "4 of 4 real EOS the loss reads kept their label, 0 lost it; eosfix patch applied" in fixed


def test_strict_stops_before_the_first_step(tmp_path, unpatched, clean_environ, monkeypatch):
    monkeypatch.setenv("EOSFIX_AUDIT", "strict")
    tok = build_tokenizer()
    audit_trainers()
    trainer = lm_trainer(tmp_path, tok, dataset(tok))
    with pytest.raises(EOSLabelError, match="EOSFIX_AUDIT=strict") as raised:
        trainer.train()
    assert raised.value.report.eos_lost == 4 and trainer.state.global_step == 0
    with eosfix.patched():
        lm_trainer(tmp_path, tok, dataset(tok)).train()  # fixed: strict lets it train


def test_off_installs_nothing_and_revert_removes_it(unpatched, clean_environ, monkeypatch):
    from transformers import DataCollatorForLanguageModeling  # noqa: F401  (is_applied() needs its module imported)
    from transformers.trainer_callback import CallbackHandler

    stock = original_on_train_begin()
    monkeypatch.setenv("EOSFIX_AUDIT", "0")
    with eosfix.patched():
        assert eosfix.is_applied() and vars(CallbackHandler)["on_train_begin"] is stock
    monkeypatch.delenv("EOSFIX_AUDIT")
    with eosfix.patched():
        wrapped = vars(CallbackHandler)["on_train_begin"]
        assert wrapped is not stock and wrapped.__wrapped__ is stock
        # Picklable like the collator patch: a bound copy pickles as getattr(instance, name).
        handler = CallbackHandler([], None, None, None, None)
        assert pickle.loads(pickle.dumps(handler.on_train_begin)).__name__ == "on_train_begin"
        assert eosfix.is_applied()
    assert vars(CallbackHandler)["on_train_begin"] is stock


def test_audit_only_survives_patched_and_unpatched_blocks(unpatched, clean_environ):
    from transformers import DataCollatorForLanguageModeling  # noqa: F401  (is_applied() needs its module imported)
    from transformers.trainer_callback import CallbackHandler

    stock = original_on_train_begin()
    audit_trainers()
    for block in (eosfix.patched, eosfix.unpatched):
        with block():
            pass
        assert vars(CallbackHandler)["on_train_begin"].__wrapped__ is stock and not eosfix.is_applied()
    eosfix.revert()
    assert vars(CallbackHandler)["on_train_begin"] is stock


def test_only_rank_zero_prints_and_strict_raises_everywhere(tmp_path, unpatched, clean_environ, monkeypatch, caplog):
    from eosfix.diagnostics.trainer_callback import audit_train_begin

    tok = build_tokenizer()
    trainer = lm_trainer(tmp_path, tok, dataset(tok))
    handler = trainer.callback_handler
    handler.train_dataloader = trainer.get_train_dataloader()
    rank1 = types.SimpleNamespace(process_index=1)
    with caplog.at_level(logging.INFO, logger="eosfix"):
        report = audit_train_begin(handler, rank1, trainer.state, trainer.control)
        assert report.eos_lost == 4 and not audit_lines(caplog)
        audit_train_begin(handler, types.SimpleNamespace(process_index=0), trainer.state, trainer.control)
        assert len(audit_lines(caplog)) == 1
    monkeypatch.setenv("EOSFIX_AUDIT", "strict")
    with pytest.raises(EOSLabelError):
        audit_train_begin(handler, rank1, trainer.state, trainer.control)


@pytest.mark.parametrize("kind", ["map-style, shuffled", "one-shot", "streaming"])
def test_training_reads_the_same_batches_after_the_audit(tmp_path, unpatched, clean_environ, caplog, kind):
    import torch
    from datasets import Dataset
    from transformers import Trainer

    tok = build_tokenizer()
    seen = []

    class Recording(Trainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            seen.append(inputs["input_ids"].tolist())
            return super().compute_loss(model, inputs, *args, **kwargs)

    class OneShot(torch.utils.data.IterableDataset):
        """``__iter__`` returns the same iterator each time: reading it takes the examples from training."""

        def __init__(self):
            self.stream = iter([dict(tok(text)) for text in TEXTS])

        def __iter__(self):
            return self.stream

    def data():
        if kind == "one-shot":
            return OneShot()
        rows = Dataset.from_list([dict(tok(text)) for text in TEXTS])
        return rows.to_iterable_dataset() if kind == "streaming" else rows  # 🤗 streaming, or the Trainer shuffles

    def train():
        seen.clear()
        lm_trainer(tmp_path, tok, data(), trainer_class=Recording, max_steps=2).train()
        return list(seen)

    stock = train()
    audit_trainers()
    with caplog.at_level(logging.INFO, logger="eosfix"):
        audited = train()
    assert len(stock) == 2 and [len(batch) for batch in stock] == [4, 4]
    assert audited == stock
    (line,) = audit_lines(caplog)
    if kind == "one-shot":
        assert "not audited" in line and "same iterator" in line
    else:
        assert "0 of 4 real EOS the loss reads kept their label, 4 lost" in line


def test_a_loader_with_worker_processes(tmp_path, unpatched, clean_environ, caplog):
    # The audit collates in this process and starts no worker; training's workers patch themselves at start.
    tok = build_tokenizer()
    with eosfix.patched(), caplog.at_level(logging.INFO, logger="eosfix"):
        lm_trainer(tmp_path, tok, dataset(tok), dataloader_num_workers=2).train()
    (line,) = audit_lines(caplog)
    assert "4 of 4 real EOS the loss reads kept their label" in line


class TestStartupSwitch:
    """EOSFIX_AUTOPATCH=audit / =1 in the environment of a fresh interpreter, with no eosfix in the script."""

    SCRIPT = """
        import json, sys
        sys.path.insert(0, {tests!r})
        from helpers import build_tokenizer, lm_trainer
        from datasets import Dataset
        tok = build_tokenizer()
        data = Dataset.from_list([dict(tok(t)) for t in {texts!r}])
        lm_trainer({tmp!r}, tok, data).train()
        print(json.dumps("eosfix" in sys.modules))
    """

    def run(self, tmp_path, value):
        from pathlib import Path

        require_wheel()
        code = self.SCRIPT.format(tests=str(Path(__file__).parent), texts=TEXTS, tmp=str(tmp_path))
        loaded, proc = run_python(code, env={"EOSFIX_AUTOPATCH": value})
        assert loaded is True
        return [line for line in proc.stderr.splitlines() if "EOS label audit" in line]

    def test_audit_only(self, tmp_path):
        (line,) = self.run(tmp_path, "audit")
        assert "0 of 4 real EOS the loss reads kept their label, 4 lost it; eosfix patch not applied" in line

    def test_patch(self, tmp_path):
        (line,) = self.run(tmp_path, "1")
        assert "4 of 4 real EOS the loss reads kept their label, 0 lost it; eosfix patch applied" in line
