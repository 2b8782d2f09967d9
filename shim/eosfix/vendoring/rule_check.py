"""Run the label rule's cases through whichever transformers and trl come first on ``sys.path``; print JSON.

``eosfix vendor`` starts this file by its path, in a fresh interpreter whose ``PYTHONPATH`` puts a patched
copy of transformers or trl first and with eosfix switched off, to prove a patch on a release newer than the
patches' recorded ranges before it writes anything. It imports nothing of eosfix, only the standard library,
tokenizers, transformers (and trl, torch or numpy as the cases need); the cases are the rows of
``eosfix/spec/label_rule.json`` (``spec/label_rule.json`` in the repository), the same rows every carrier of the
rule is tested with (tests/scripts/spec_check.py does the same for the test suite)::

    python rule_check.py CASES.json lm|completion

Prints one JSON object: ``results`` maps ``"<case id>/<return_tensors>"`` to the labels, or to ``null`` where
the case cannot run here (``pt`` without torch); ``transformers`` and ``trl`` are the files imported.
"""

import json
import sys
import warnings
from pathlib import Path

# Started by path, Python puts this file's directory first on sys.path; nothing here may shadow the copy's modules.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

# Ids of the spec: <unk>=0 <s>=1 </s>=2 <pad>=3 <mask>=4, words from 5 (tests/helpers.py builds the same one).
WORDS = ("the", "cat", "sat", "on", "mat", "a", "dog", "ran", "###", "Question:", "Answer:", "yes", "no")


def _tokenizer(case):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(("<unk>", "<s>", "</s>", "<pad>", "<mask>", *WORDS))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.pad_token = {"eos": "</s>", "pad": "<pad>", "unk": "<unk>"}[case["pad"]]
    tokenizer.padding_side = case["padding_side"]
    if not case["tokenizer_attention_mask"]:
        tokenizer.model_input_names = [n for n in tokenizer.model_input_names if n != "attention_mask"]
    return tokenizer


def _examples(case, return_tensors):
    rows, form = case["examples"], case["form"]
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


def collate(case, return_tensors):
    """The labels the collator on ``sys.path`` gives for ``case``."""
    tokenizer = _tokenizer(case)
    kwargs = {"mlm": False, "pad_to_multiple_of": case["pad_to_multiple_of"]}
    if case["collator"] == "completion":
        from trl.trainer.utils import DataCollatorForCompletionOnlyLM

        collator = DataCollatorForCompletionOnlyLM(
            case["response_template"], instruction_template=case["instruction_template"], tokenizer=tokenizer, **kwargs
        )
    else:
        from transformers import DataCollatorForLanguageModeling

        collator = DataCollatorForLanguageModeling(tokenizer, return_tensors=return_tensors, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = collator(_examples(case, return_tensors))["labels"]
    return [[int(x) for x in row] for row in labels.tolist()]


def main():
    cases_file, collator = sys.argv[1], sys.argv[2]
    cases = [c for c in json.loads(Path(cases_file).read_text(encoding="utf-8"))["cases"] if c["collator"] == collator]
    try:
        import torch  # noqa: F401

        tensors: tuple[str, ...] = ("pt", "np")
    except ImportError:
        tensors = ("np",)
    # The completion-only collator is torch only.
    results = {
        f"{case['id']}/{rt}": collate(case, rt) if rt in tensors else None
        for case in cases
        for rt in case["return_tensors"]
    }
    import transformers

    report = {"results": results, "transformers": transformers.__file__, "trl": None}
    if collator == "completion":
        report["trl"] = sys.modules["trl"].__file__
    report["eosfix_loaded"] = any(name == "eosfix" or name.startswith("eosfix.") for name in sys.modules)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
