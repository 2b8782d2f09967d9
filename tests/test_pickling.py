"""Patched methods copy, deep-copy and pickle like stock ones, also into a spawned DataLoader worker."""

import copy
import functools
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    build_tokenizer,
)

import eosfix

TESTS = Path(__file__).resolve().parent
TEXTS = ["the cat sat </s>", "a dog </s> ran </s>", "the mat </s>", "yes no </s>", "cat </s>", "a </s>"]
EOS_IN_TEXTS = sum(text.split().count("</s>") for text in TEXTS)


def lm_collator(tok):
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tok, mlm=False)


@pytest.mark.requires_torch
def test_bound_patched_methods_pickle_and_copy_like_stock_ones(unpatched):
    tok = build_tokenizer()
    collator = lm_collator(tok)
    examples = [tok(text) for text in TEXTS]
    eosfix.apply()
    cls = type(collator)
    restored = pickle.loads(pickle.dumps(collator.torch_call))
    assert restored.__self__ is not collator and restored.__self__.tokenizer.eos_token_id == tok.eos_token_id
    deep = copy.deepcopy(collator.numpy_call)
    assert deep.__self__ is not collator
    assert copy.copy(collator.torch_call).__self__ is collator
    partial = pickle.loads(pickle.dumps(functools.partial(cls.torch_call, collator)))
    for method in (restored, partial, copy.copy(collator.torch_call)):
        batch = method(examples)
        real = (batch["input_ids"] == tok.eos_token_id) & (batch["attention_mask"] == 1)
        assert int(real.sum()) == EOS_IN_TEXTS and bool((batch["labels"][real] == tok.eos_token_id).all())
    # Through the class: the patched function, as stock gives the function.
    assert pickle.loads(pickle.dumps(cls.torch_call)) is not None
    assert copy.deepcopy(cls.torch_call) is not None


SPAWN_WORKER = f"""
import json, sys
sys.path.insert(0, {str(TESTS)!r})

def main():
    import eosfix
    from torch.utils.data import DataLoader
    from transformers import DataCollatorForLanguageModeling
    from helpers import build_tokenizer
    eosfix.apply()
    tok = build_tokenizer()
    collator = DataCollatorForLanguageModeling(tok, mlm=False)
    data = [dict(tok(text)) for text in {TEXTS!r}]
    loader = DataLoader(data, batch_size=3, collate_fn=collator.torch_call, num_workers=1,
                        multiprocessing_context="spawn")
    seen = labelled = 0
    for batch in loader:
        real = (batch["input_ids"] == tok.eos_token_id) & (batch["attention_mask"] == 1)
        seen += int(real.sum())
        labelled += int((real & (batch["labels"] == tok.eos_token_id)).sum())
    print(json.dumps([seen, labelled]))

if __name__ == "__main__":
    main()
"""


@pytest.mark.requires_torch
def test_spawn_worker_with_a_bound_patched_method_as_collate_fn(tmp_path):
    script = tmp_path / "spawn_worker.py"
    script.write_text(SPAWN_WORKER)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [EOS_IN_TEXTS, EOS_IN_TEXTS]
