"""TRL: the completion-only collator (trl <= 0.19) and SFTTrainer's default collator (trl <= 0.16).

Each test measures stock first, so it shows the bug it guards against, then
the same with eosfix applied.
"""

import pytest
from helpers import build_tokenizer, installed, tiny_model, version_in

import eosfix

# trl depends on torch (through accelerate): skipped, with that reason, in the numpy-only envs.
pytestmark = pytest.mark.requires_torch
needs_trl = pytest.mark.skipif(installed("trl") is None, reason="trl is not installed in this env")


def eos_coverage(batch, eos_id):
    """(real EOS tokens, those labelled): an EOS is real where the attention mask is 1."""
    ids = batch["input_ids"]
    mask = batch.get("attention_mask")
    real = ids == eos_id if mask is None else (ids == eos_id) & (mask == 1)
    return int(real.sum()), int((real & (batch["labels"] == eos_id)).sum())


@needs_trl
@pytest.mark.skipif(not version_in("trl", "<0.20"), reason="DataCollatorForCompletionOnlyLM was removed in trl 0.20")
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_completion_only_collator_keeps_response_eos(padding_side, unpatched):
    import warnings

    from trl import DataCollatorForCompletionOnlyLM

    tok = build_tokenizer(pad="eos", padding_side=padding_side)
    texts = ["### Question: the cat ### Answer: yes </s>", "### Question: a ### Answer: no </s>"]
    examples = [tok(t) for t in texts]

    def collate():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # trl warns when it cannot find the template (the stock case)
            collator = DataCollatorForCompletionOnlyLM("### Answer:", tokenizer=tok, mlm=False)
            return collator(examples)

    stock = collate()
    with eosfix.patched():
        fixed = collate()

    eos = tok.eos_token_id
    assert eos_coverage(stock, eos) == (2, 0)
    assert eos_coverage(fixed, eos) == (2, 2)
    for row_ids, row_labels, text in zip(fixed["input_ids"].tolist(), fixed["labels"].tolist(), texts):
        n = len(text.split())
        own = slice(0, n) if padding_side == "right" else slice(len(row_ids) - n, None)
        words = text.split()
        answer_at = words.index("Answer:") + 1
        labels = row_labels[own]
        assert labels[:answer_at] == [-100] * answer_at  # prompt and template masked
        assert labels[answer_at:] == row_ids[own][answer_at:]  # response and its EOS labelled


@needs_trl
@pytest.mark.skipif(not version_in("trl", "<0.20"), reason="DataCollatorForCompletionOnlyLM was removed in trl 0.20")
def test_completion_only_collator_multi_turn(unpatched):
    import warnings

    from trl import DataCollatorForCompletionOnlyLM

    tok = build_tokenizer(pad="eos")
    text = "### Question: a ### Answer: yes </s> ### Question: the dog ### Answer: no </s>"
    examples = [tok(text), tok("### Question: cat ### Answer: yes </s>")]
    with eosfix.patched(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collator = DataCollatorForCompletionOnlyLM(
            "### Answer:", instruction_template="### Question:", tokenizer=tok, mlm=False
        )
        batch = collator(examples)
    labels = batch["labels"][0].tolist()
    words = text.split()
    kept = [w for w, label in zip(words, labels) if label != -100]
    assert kept == ["yes", "</s>", "no", "</s>"]


def sft_first_batch(tmp_path, packing):
    """First training batch of an SFTTrainer built without a data collator."""
    from datasets import Dataset
    from trl import SFTTrainer

    tok = build_tokenizer(pad="eos")
    texts = ["the cat sat on the mat </s>", "a dog ran </s>", "yes </s> no </s>", "the dog sat </s>"] * 4
    dataset = Dataset.from_dict({"text": texts})
    options = {
        "output_dir": str(tmp_path),
        "per_device_train_batch_size": 4,
        "report_to": [],
        "max_steps": 1,
    }
    sft_options = {"dataset_text_field": "text", "max_seq_length": 12, "packing": packing}
    if version_in("trl", "<0.8"):
        from transformers import TrainingArguments

        trainer = SFTTrainer(
            tiny_model(len(tok)),
            args=TrainingArguments(**options),
            train_dataset=dataset,
            tokenizer=tok,
            **sft_options,
        )
    else:
        from trl import SFTConfig

        tokenizer_arg = "processing_class" if version_in("trl", ">=0.12") else "tokenizer"
        trainer = SFTTrainer(
            tiny_model(len(tok)),
            args=SFTConfig(**options, **sft_options),
            train_dataset=dataset,
            **{tokenizer_arg: tok},
        )
    assert trainer.data_collator is not None
    return next(iter(trainer.get_train_dataloader())), tok.eos_token_id


@needs_trl
@pytest.mark.skipif(not version_in("trl", "<0.16.1"), reason="SFTTrainer has its own clean collator from trl 0.16.1")
def test_sft_trainer_default_collator_keeps_eos(tmp_path, unpatched):
    stock, eos = sft_first_batch(tmp_path / "stock", packing=False)
    with eosfix.patched():
        fixed, _ = sft_first_batch(tmp_path / "fixed", packing=False)
    seen, labelled = eos_coverage(stock, eos)
    assert seen > 0 and labelled == 0
    seen, labelled = eos_coverage(fixed, eos)
    assert seen > 0 and labelled == seen


@needs_trl
@pytest.mark.skipif(
    not version_in("trl", ">=0.15,<0.16.1"), reason="only trl 0.15-0.16.0 packs through transformers' collator"
)
def test_sft_trainer_packing_keeps_eos(tmp_path, unpatched):
    stock, eos = sft_first_batch(tmp_path / "stock", packing=True)
    with eosfix.patched():
        fixed, _ = sft_first_batch(tmp_path / "fixed", packing=True)

    # A packed chunk may begin with the previous document's EOS: the loss never
    # reads the label of a row's first token, so only later positions count.
    def later(batch):
        trimmed = {k: v[:, 1:] for k, v in batch.items()}
        return eos_coverage(trimmed, eos)

    seen, labelled = later(stock)
    assert seen > 0 and labelled == 0
    seen, labelled = later(fixed)
    assert seen > 0 and labelled == seen


@needs_trl
@pytest.mark.skipif(
    not version_in("trl", ">=1.1"), reason="only trl >= 1.1 sets the pad token on the tokenizer it is given"
)
def test_tokenizer_reused_after_sft_trainer_keeps_eos(tmp_path, unpatched):
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling
    from trl import SFTConfig, SFTTrainer

    tok = build_tokenizer(pad=None)
    dataset = Dataset.from_dict({"text": ["the cat sat </s>", "a dog </s>"] * 2})
    SFTTrainer(
        tiny_model(len(tok)),
        args=SFTConfig(output_dir=str(tmp_path), report_to=[], max_steps=1, bf16=False),
        train_dataset=dataset,
        processing_class=tok,
    )
    assert tok.pad_token == tok.eos_token  # what trl did to the tokenizer

    examples = [tok("the cat sat </s>"), tok("a </s>")]
    stock = DataCollatorForLanguageModeling(tok, mlm=False)(examples)
    with eosfix.patched():
        fixed = DataCollatorForLanguageModeling(tok, mlm=False)(examples)
    assert eos_coverage(stock, tok.eos_token_id) == (2, 0)
    assert eos_coverage(fixed, tok.eos_token_id) == (2, 2)
