"""Collate fixed examples with whichever transformers and trl come first on sys.path; print JSON.

test_vendor.py runs this file in fresh interpreters, with PYTHONPATH pointing
at patched copies (or at nothing, for the stock packages), so that a copy is
judged exactly as a project that vendors it would import it: with no eosfix
in the process. The JSON reports which files were imported and whether
anything imported eosfix, so the tests can check that too.

    python vendor_check.py [--lm] [--trl] [--tf]
"""

import argparse
import json
import sys
import warnings
from importlib.util import find_spec
from pathlib import Path

# Started by path from tests/scripts/: the shared helpers live one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import build_tokenizer  # noqa: E402

TEXTS = ("the cat sat </s>", "a dog </s>", "yes </s> no </s>")
COMPLETIONS = ("### Question: the cat ### Answer: yes </s>", "### Question: a ### Answer: no </s>")
MULTI_TURN = (
    "### Question: a ### Answer: yes </s> ### Question: the dog ### Answer: no </s>",
    "### Question: cat ### Answer: yes </s>",
)


def rows(array):
    # torch and tensorflow tensors have .numpy(); numpy arrays do not need it.
    array = array.numpy() if hasattr(array, "numpy") else array
    return [[int(x) for x in row] for row in array.tolist()]


def result(batch, tokenizer, texts):
    """The batch as lists, with what the test needs to rebuild the expected labels."""
    return {
        "input_ids": rows(batch["input_ids"]),
        "labels": rows(batch["labels"]),
        "texts": texts,
        "padding_side": tokenizer.padding_side,
        "eos_token_id": tokenizer.eos_token_id,
    }


def lm_cases(return_tensors="pt"):
    from transformers import DataCollatorForLanguageModeling

    out = {}
    for pad in ("eos", "pad"):
        for side in ("right", "left"):
            tok = build_tokenizer(pad=pad, padding_side=side)
            ids = [tok(text)["input_ids"] for text in TEXTS]
            shapes = {
                "dict": [tok(text) for text in TEXTS],
                "list": ids,
            }
            if return_tensors == "pt":
                import torch

                shapes["tensor"] = [torch.tensor(i) for i in ids]
            for shape, examples in shapes.items():
                collator = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors=return_tensors)
                out[f"{return_tensors}-{shape}-{side}-pad_{pad}"] = result(collator(examples), tok, TEXTS)
            collator = DataCollatorForLanguageModeling(
                tok, mlm=False, pad_to_multiple_of=8, return_tensors=return_tensors
            )
            out[f"{return_tensors}-list-multiple8-{side}-pad_{pad}"] = result(collator(ids), tok, TEXTS)
        # A tokenizer without attention_mask in model_input_names: dict examples, no mask in the batch.
        tok = build_tokenizer(pad=pad, with_attention_mask=False)
        examples = [{"input_ids": tok(text)["input_ids"]} for text in TEXTS]
        collator = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors=return_tensors)
        out[f"{return_tensors}-dict_no_mask-right-pad_{pad}"] = result(collator(examples), tok, TEXTS)
    return out


def trl_cases():
    from importlib.metadata import version

    from packaging.version import Version
    from trl.trainer.utils import DataCollatorForCompletionOnlyLM

    out = {}
    warnings.simplefilter("ignore")  # deprecation (trl >= 0.17) and "template not found" (stock, pad == eos)
    for pad in ("eos", "pad"):
        for side in ("right", "left"):
            tok = build_tokenizer(pad=pad, padding_side=side)
            for shape in ("dict", "list"):
                examples = [tok(t) if shape == "dict" else tok(t)["input_ids"] for t in COMPLETIONS]
                collator = DataCollatorForCompletionOnlyLM("### Answer:", tokenizer=tok, mlm=False)
                out[f"completion-{shape}-{side}-pad_{pad}"] = result(collator(examples), tok, COMPLETIONS)
        tok = build_tokenizer(pad=pad)
        collator = DataCollatorForCompletionOnlyLM(
            "### Answer:", instruction_template="### Question:", tokenizer=tok, mlm=False
        )
        out[f"multi_turn-dict-right-pad_{pad}"] = result(collator([tok(t) for t in MULTI_TURN]), tok, MULTI_TURN)
        if Version(version("trl")) >= Version("0.10.1"):  # padding_free arrived in trl 0.10.1
            collator = DataCollatorForCompletionOnlyLM("### Answer:", tokenizer=tok, mlm=False, padding_free=True)
            batch = collator([tok(t) for t in COMPLETIONS])
            out[f"padding_free-dict-right-pad_{pad}"] = result(batch, tok, COMPLETIONS)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lm", action="store_true", help="DataCollatorForLanguageModeling, torch and numpy")
    parser.add_argument("--trl", action="store_true", help="trl's DataCollatorForCompletionOnlyLM")
    parser.add_argument("--tf", action="store_true", help="DataCollatorForLanguageModeling, tensorflow")
    args = parser.parse_args()

    import transformers

    report = {"transformers": transformers.__file__, "cases": {}}
    if args.lm:
        if find_spec("torch") is not None:  # the numpy-only envs (Python 3.9/3.10/3.12/3.13) have no torch
            report["cases"].update(lm_cases("pt"))
        report["cases"].update(lm_cases("np"))
    if args.tf:
        report["cases"].update(lm_cases("tf"))
    if args.trl:
        import trl

        report["trl"] = trl.__file__
        report["cases"].update(trl_cases())
    report["eosfix_loaded"] = any(name == "eosfix" or name.startswith("eosfix.") for name in sys.modules)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
