"""Run label cases through whichever transformers and trl come first on sys.path; print JSON.

The cases are rows of ``spec/label_rule.json`` (or random cases of the same
form). ``test_spec.py`` runs this file in fresh interpreters whose PYTHONPATH
points at patched copies (the vendor and upstream carriers) or at nothing (the
stock packages), with eosfix switched off, and imports it in-process for the
runtime shim. Each result is the list of label rows, or null where the case
does not apply (the completion-only collator on a trl without it).

    python spec_check.py CASES.json > results.json
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

from helpers import build_tokenizer

SPEC = Path(__file__).resolve().parent.parent / "spec" / "label_rule.json"


def load_cases(path: Path = SPEC) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["cases"]


def tokenizer_for(case: dict[str, Any]):
    pad = case["pad"]
    tokenizer = build_tokenizer(
        pad="pad" if pad == "pad" else "eos" if pad == "eos" else None,
        padding_side=case["padding_side"],
        with_attention_mask=case["tokenizer_attention_mask"],
    )
    if pad == "unk":
        tokenizer.pad_token = tokenizer.unk_token
    return tokenizer


def examples_for(case: dict[str, Any], return_tensors: str) -> list[Any]:
    rows = case["examples"]
    form = case["form"]
    if form == "dict+mask":
        return [{"input_ids": list(row["input_ids"]), "attention_mask": list(row["attention_mask"])} for row in rows]
    if form == "dict":
        return [{"input_ids": list(row)} for row in rows]
    if form == "list":
        return [list(row) for row in rows]
    if return_tensors == "pt":
        import torch

        return [torch.tensor(row) for row in rows]
    import numpy as np

    return [np.array(row, dtype=np.int64) for row in rows]


def completion_collator_class():
    try:
        from trl.trainer.utils import DataCollatorForCompletionOnlyLM
    except ImportError:
        return None
    return DataCollatorForCompletionOnlyLM


def torch_available() -> bool:
    from importlib.util import find_spec

    return find_spec("torch") is not None


def collate(case: dict[str, Any], return_tensors: str) -> list[list[int]] | None:
    """The labels the installed collator gives for ``case``, or None when it does not apply here."""
    if return_tensors == "pt" and not torch_available():
        return None
    tokenizer = tokenizer_for(case)
    kwargs = {"mlm": False, "pad_to_multiple_of": case["pad_to_multiple_of"], "return_tensors": return_tensors}
    if case["collator"] == "completion":
        cls = completion_collator_class()
        if cls is None:
            return None
        kwargs.pop("return_tensors")  # torch only, and absent from its signature in old releases
        collator = cls(
            case["response_template"],
            instruction_template=case["instruction_template"],
            tokenizer=tokenizer,
            **kwargs,
        )
    else:
        from transformers import DataCollatorForLanguageModeling

        collator = DataCollatorForLanguageModeling(tokenizer, **kwargs)
    with warnings.catch_warnings():
        # trl's deprecation warning (>= 0.17), its "template not found" warning, eosfix's guess.
        warnings.simplefilter("ignore")
        labels = collator(examples_for(case, return_tensors))["labels"]
    return [[int(x) for x in row] for row in labels.tolist()]


def run(cases: list[dict[str, Any]]) -> dict[str, list[list[int]] | None]:
    """Labels per ``"<case id>/<return_tensors>"``."""
    return {f"{case['id']}/{rt}": collate(case, rt) for case in cases for rt in case["return_tensors"]}


def main() -> None:
    cases = load_cases(Path(sys.argv[1])) if len(sys.argv) > 1 else load_cases()
    report = {"results": run(cases)}
    import transformers

    report["transformers"] = transformers.__file__
    cls = completion_collator_class()
    report["trl"] = sys.modules[cls.__module__].__file__ if cls is not None else None
    report["eosfix_loaded"] = any(name == "eosfix" or name.startswith("eosfix.") for name in sys.modules)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
