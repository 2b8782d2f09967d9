"""The audit reads batches from any collator, the users' own included: the real code shapes where the bug lives.

Each collator is reproduced here the way a user's script or a fine-tuning stack writes it, on the in-memory
tokenizer of ``helpers``: the vision-language ``collate_fn`` TRL shipped as its example until 0.21 (still copied
in courses and forks), axolotl's multimodal ``process_labels`` (``keep & (input_ids != pad_id)``), packed and
padding-free batches (``position_ids``, no ``attention_mask``), and chat batches whose labels the data set built,
with the prompt turns' EOS masked on purpose. With pad == eos the first two lose the assistant's EOS label, and
the audit must say so; eosfix's patch cannot reach code it does not own, so the report says what to do instead.
"""

import logging

import numpy as np
import pytest
from helpers import IGNORE, build_tokenizer, lm_trainer, version_in

import eosfix
from eosfix.diagnostics.audit import EOSAudit, audit

pytestmark = pytest.mark.requires_torch

CHATS = [("the cat", "yes"), ("a dog ran on the mat", "no"), ("the mat", "yes the cat sat"), ("a cat", "no")]
IMAGE_TOKENS = 4


def chat_tokenizer(pad="eos"):
    tok = build_tokenizer(pad=pad)
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    return tok


class TinyVisionProcessor:
    """A LLaVA-style processor around the real in-memory tokenizer: ``processor.tokenizer``, ``image_token``, a
    chat template, ``<image>`` expanded to its image tokens, ``pixel_values`` next to the ids.

    It stands in for transformers' image processors, which need Pillow, and torchvision on transformers 5 (the
    registry has torchvision only as a CUDA build, which does not import on CPU torch).
    """

    image_token = "<image>"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def apply_chat_template(self, messages, tokenize=False):
        turns = []
        for message in messages:
            words = [self.image_token if part["type"] == "image" else part["text"] for part in message["content"]]
            turns.append(f"{'Question:' if message['role'] == 'user' else 'Answer:'} {' '.join(words)} </s>")
        return " ".join(turns)

    def __call__(self, text, images, return_tensors="pt", padding=True):
        import torch

        text = [t.replace(self.image_token, " ".join([self.image_token] * IMAGE_TOKENS)) for t in text]
        batch = self.tokenizer(text, return_tensors=return_tensors, padding=padding)
        batch["pixel_values"] = torch.tensor(np.stack(images), dtype=torch.float32)
        return batch


def vlm_examples():
    image = np.zeros((3, 8, 8), dtype=np.uint8)
    return [
        {
            "messages": [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]},
                {"role": "assistant", "content": [{"type": "text", "text": answer}]},
            ],
            "images": image,
        }
        for prompt, answer in CHATS
    ]


def trl_vlm_collator(processor):
    """TRL's examples/scripts/sft_vlm.py ``collate_fn`` (up to 0.21), as copied into users' scripts."""

    def collate_fn(examples):
        texts = [processor.apply_chat_template(example["messages"], tokenize=False) for example in examples]
        images = [example["images"] for example in examples]
        batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
        labels = batch["input_ids"].clone()
        labels[labels == processor.tokenizer.pad_token_id] = -100
        image_token_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
        labels[labels == image_token_id] = -100
        batch["labels"] = labels
        return batch

    return collate_fn


def test_trl_vlm_collate_fn_loses_every_eos_label(unpatched):
    import torch

    processor = TinyVisionProcessor(chat_tokenizer())
    report = audit(trl_vlm_collator(processor), examples=vlm_examples(), batches=1, tokenizer=processor)
    assert report.status == EOSAudit.LOST and report.collator.endswith("collate_fn")
    # Two turns per chat, each closed by an EOS the loss reads (this collate_fn masks no prompt).
    assert report.eos_seen == report.eos_lost == 2 * len(CHATS) and report.eos_labelled == 0

    # The patch reaches transformers' collator only: the report says what fixes the user's own code.
    with eosfix.patched():
        patched = audit(trl_vlm_collator(processor), examples=vlm_examples(), batches=1, tokenizer=processor)
    assert patched.status == EOSAudit.LOST and "pad token distinct from EOS" in patched.advice

    # Through a DataLoader, the processor as the Trainer's fallback (processing_class=processor).
    loader = torch.utils.data.DataLoader(vlm_examples(), batch_size=2, collate_fn=trl_vlm_collator(processor))
    assert audit(loader, batches=2, fallback_tokenizer=processor).eos_lost == 2 * len(CHATS)

    # A pad token distinct from EOS: every EOS keeps its label, image tokens stay masked.
    fixed = TinyVisionProcessor(chat_tokenizer(pad="pad"))
    report = audit(trl_vlm_collator(fixed), examples=vlm_examples(), batches=1, tokenizer=fixed)
    assert report.ok and report.eos_labelled == 2 * len(CHATS)


class AxolotlStyleStrategy:
    """axolotl's multimodal ``ProcessingStrategy.process_labels`` logic (0.18-0.21), as a user's copy has it:
    assistant turns kept, then ``keep & (input_ids != pad_id)``; axolotl falls back to pad = eos."""

    def __init__(self, processor):
        self.processor = processor
        self.answer_id = processor.tokenizer.convert_tokens_to_ids("Answer:")
        self.eos_id = processor.tokenizer.eos_token_id

    def assistant_mask(self, input_ids):
        keep = np.zeros(tuple(input_ids.shape), dtype=bool)
        for row, ids in enumerate(input_ids.tolist()):
            inside = False
            for col, token in enumerate(ids):
                keep[row, col] = inside
                inside = token == self.answer_id or (inside and token != self.eos_id)
        return keep

    def process_labels(self, input_ids):
        import torch

        pad_id = self.processor.tokenizer.pad_token_id
        keep = torch.from_numpy(self.assistant_mask(input_ids))
        return torch.where(keep & (input_ids != pad_id), input_ids, torch.full_like(input_ids, -100))

    def __call__(self, examples):
        texts = [self.processor.apply_chat_template(example["messages"]) for example in examples]
        batch = self.processor(text=texts, images=[example["images"] for example in examples])
        batch["labels"] = self.process_labels(batch["input_ids"])
        return batch


def test_axolotl_style_labels_lose_the_answers_eos(unpatched):
    processor = TinyVisionProcessor(chat_tokenizer())
    report = audit(AxolotlStyleStrategy(processor), examples=vlm_examples(), batches=1, tokenizer=processor)
    # The assistant's EOS is lost; the prompt turn's EOS is masked with its turn on purpose, not lost.
    assert report.status == EOSAudit.LOST and report.collator == "AxolotlStyleStrategy"
    assert report.eos_lost == len(CHATS) and report.eos_in_masked_spans == len(CHATS) and report.eos_labelled == 0
    fixed = TinyVisionProcessor(chat_tokenizer(pad="pad"))
    report = audit(AxolotlStyleStrategy(fixed), examples=vlm_examples(), batches=1, tokenizer=fixed)
    assert report.ok and report.eos_labelled == len(CHATS) and report.eos_in_masked_spans == len(CHATS)


def encoded_chats(tok):
    """Labels built by the data set: the prompt turn (its EOS too) masked, the answer and its EOS labelled."""
    rows = []
    for prompt, answer in CHATS:
        prompt_ids = tok(f"Question: {prompt} </s>", add_special_tokens=False)["input_ids"]
        answer_ids = tok(f"Answer: {answer} </s>", add_special_tokens=False)["input_ids"]
        ids = prompt_ids + answer_ids
        rows.append(
            {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE] * len(prompt_ids) + answer_ids}
        )
    return rows


def packed(examples, mask_by_pad_id=None):
    """A padding-free batch: one row, position_ids restarting at each example, no attention_mask."""
    import torch

    ids = [token for example in examples for token in example["input_ids"]]
    labels = [IGNORE if i == 0 else token for example in examples for i, token in enumerate(example["input_ids"])]
    batch = {
        "input_ids": torch.tensor([ids]),
        "labels": torch.tensor([labels]),
        "position_ids": torch.tensor([[i for example in examples for i in range(len(example["input_ids"]))]]),
    }
    if mask_by_pad_id is not None:
        batch["labels"][batch["labels"] == mask_by_pad_id] = -100
    return batch


def test_packed_batches_without_attention_mask():
    tok = chat_tokenizer()
    examples = [{"input_ids": row["input_ids"]} for row in encoded_chats(tok)]
    report = audit(packed, examples=examples, batches=1, tokenizer=tok)
    assert report.ok and report.counted_by == "example lengths" and report.eos_labelled == 2 * len(CHATS)
    # The same packing with labels masked by the pad id's value: every EOS but the row's first token lost.
    report = audit(lambda chunk: packed(chunk, tok.pad_token_id), examples=examples, batches=1, tokenizer=tok)
    assert report.status == EOSAudit.LOST and report.eos_lost == 2 * len(CHATS)


@pytest.mark.skipif(
    not version_in("transformers", ">=4.44"), reason="DataCollatorWithFlattening arrived in transformers 4.44"
)
def test_transformers_padding_free_collator_keeps_eos_labels():
    from transformers import DataCollatorWithFlattening

    tok = chat_tokenizer()
    examples = [{"input_ids": row["input_ids"]} for row in encoded_chats(tok)]
    report = audit(DataCollatorWithFlattening(), examples=examples, batches=1, tokenizer=tok)
    assert report.ok and report.counted_by == "example lengths" and report.eos_labelled == 2 * len(CHATS)


def test_dataset_labels_with_masked_prompts_through_the_trainer_audit(tmp_path, unpatched, clean_environ, caplog):
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq

    tok = chat_tokenizer()
    collator = DataCollatorForSeq2Seq(tok, padding=True)
    report = audit(collator, examples=encoded_chats(tok), batches=1)
    assert report.ok and report.eos_lost == 0
    assert report.eos_labelled == len(CHATS) and report.eos_in_masked_spans == len(CHATS)

    with eosfix.patched(), caplog.at_level(logging.INFO, logger="eosfix"):
        lm_trainer(tmp_path, tok, Dataset.from_list(encoded_chats(tok)), collator=collator).train()
    (line,) = [r.getMessage() for r in caplog.records if "EOS label audit" in r.getMessage()]
    assert "(DataCollatorForSeq2Seq, batch): 4 of 4 real EOS the loss reads kept their label, 0 lost it" in line
    assert "4 more in masked spans or at row starts, not read by the loss" in line
