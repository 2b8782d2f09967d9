"""tools/scan_pad_masking.py finds label and attention masking by pad id, and nothing else."""

import json
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"
sys.path.insert(0, str(TOOLS))
scan_pad_masking = pytest.importorskip("scan_pad_masking", reason="tools/ is not beside tests/ (run from a checkout)")


def sites(source):
    found = scan_pad_masking.scan_source(textwrap.dedent(source), "pkg", "1.0", "mod.py")
    return [(site.line, site.function, site.kind) for site in found]


def test_each_masking_form_is_found_with_its_kind_and_function():
    source = """
    class Collator:
        def torch_call(self, batch):
            labels = batch["input_ids"].clone()
            labels[labels == self.tokenizer.pad_token_id] = -100
            batch["attention_mask"] = (batch["input_ids"] != self.tokenizer.pad_token_id).long()
            x = labels.masked_fill(labels.eq(pad_token_id), -100)
            y = torch.where(ids == self.pad_id, -100, ids)
            nll = torch.masked_fill(nll, ids == padding_idx, 0.0)
            return model(input_ids=ids, attention_mask=ids.ne(pad_token_id))

    def build(ids, pad_token_id, attention_mask):
        valid = ids != pad_token_id
        last = valid.nonzero()[-1]
        attention_mask[last + 1 :] = 0
    """
    assert sites(source) == [
        (5, "Collator.torch_call", "labels"),
        (6, "Collator.torch_call", "attention"),
        (7, "Collator.torch_call", "labels"),
        (8, "Collator.torch_call", "labels"),
        (9, "Collator.torch_call", "loss"),
        (10, "Collator.torch_call", "attention"),
        (15, "build", "attention"),
    ]


def test_comparisons_that_mask_nothing_are_left_out():
    source = """
    def pool(self, input_ids, logits):
        sequence_lengths = (input_ids != self.config.pad_token_id).sum(-1) - 1
        positions = input_ids.ne(padding_idx).int().cumsum(1)
        if self.tokenizer.padding_side == "left" and pad_token_id is not None:
            pass
        labels[labels == -100] = 0
        return logits[range(len(logits)), sequence_lengths]
    """
    assert sites(source) == []


def test_a_wheel_is_scanned_and_matched_against_the_review(tmp_path):
    wheel = tmp_path / "pkg-1.2.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
        archive.writestr("pkg/a.py", "def f(labels, pad_token_id):\n    labels[labels == pad_token_id] = -100\n")
        archive.writestr(
            "pkg/tests/test_a.py", "def g(labels, pad_token_id):\n    labels[labels == pad_token_id] = -100\n"
        )
    review = tmp_path / "review.json"
    entry = {"package": "pkg", "path": "a.py", "function": "f"}
    review.write_text(json.dumps({"sites": [{**entry, "verdicts": [{"status": "covered", "note": "n"}]}]}))
    found = scan_pad_masking.scan(wheel)
    assert [(s.package, s.version, s.path, s.line, s.function) for s in found] == [("pkg", "1.2.0", "a.py", 2, "f")]
    assert scan_pad_masking.main([str(wheel), "--review", str(review)]) == 0
    review.write_text(json.dumps({"sites": []}))
    assert scan_pad_masking.main([str(wheel), "--review", str(review)]) == 1  # an unreviewed site fails the run
