"""``eosfix demo --model``: the demo's two runs on a real pretrained model with its own tokenizer.

The data is the demo's quotes in the Gemma tutorial's plain format, closed by the model's own EOS token
(``Quote: ... Author: Ada Lovelace<|im_end|>`` for SmolLM2). The tokenizer is used as published: with SmolLM2 it
already has pad == eos, so transformers' ``DataCollatorForLanguageModeling(mlm=False)`` drops every EOS label
without any ``pad_token = eos_token`` line. The model is fine-tuned in full twice from the same weights with the
same batch order, stock and with eosfix, then answers held-out quotes greedily.
"""

from __future__ import annotations

import copy
import time

from eosfix.diagnostics import realmodel
from eosfix.diagnostics.quotes import AUTHORS, EXTRA_TOKENS, DemoError, build_data, fit, judge, prompt_text

# A few full fine-tuning steps are enough on a pretrained model; each step costs about 1-3 s on 2 cores.
DEFAULTS = {"steps": 30, "batch_size": 8, "lr": 2e-4, "train_size": 240, "test_size": 40}
_FLAGS = {"steps": "--steps", "batch_size": "--batch-size", "lr": "--lr", "train_size": "--train-size"}
_FLAGS["test_size"] = "--test-size"


def apply_defaults(args, argv) -> None:
    """Use the real model's defaults for every size option the command line did not give."""
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    for key, value in DEFAULTS.items():
        if _FLAGS[key] not in given:
            setattr(args, key, value)
    if "--eval-every" not in given:
        args.eval_every = max(1, args.steps // 3)


def _answer_ids(tokenizer, author):
    return tokenizer(" " + " ".join(AUTHORS[author]), add_special_tokens=False)["input_ids"]


def greedy(model, tokenizer, prompts, max_new_tokens, add_special_tokens=True):
    """Greedy continuations (id lists); prompts of one token length run as one batch, so nothing is padded."""
    import torch

    encoded = [tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"] for p in prompts]
    by_length = {}
    for index, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(index)
    outputs = [None] * len(prompts)
    model.eval()
    with torch.no_grad():
        for width, indices in by_length.items():
            ids = torch.tensor([encoded[i] for i in indices])
            for _ in range(max_new_tokens):
                logits = model(input_ids=ids).logits[:, -1]
                ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
            for row, i in zip(ids.tolist(), indices):
                outputs[i] = row[width:]
    model.train()
    return outputs


def score(model, tokenizer, test):
    """(stop_rate, exact_rate, author_rate, generations) on the held-out quotes."""
    eos = tokenizer.eos_token_id
    names = [_answer_ids(tokenizer, author) for author in range(len(AUTHORS))]
    longest = max(len(name) for name in names)
    generations = greedy(model, tokenizer, [prompt_text(w) for w, _ in test], longest + EXTRA_TOKENS + 1)
    judged = [judge(ids, names[author], names, eos) for ids, (_, author) in zip(generations, test)]
    stops, exact, right_author = (sum(column) / len(test) for column in zip(*judged))
    return stops, exact, right_author, generations


def _shown(tokenizer, ids):
    eos = tokenizer.eos_token_id
    if eos in ids:
        ids = ids[: ids.index(eos) + 1]
    return tokenizer.decode(ids)


def train_once(name, model, tokenizer, examples, test, args, progress):
    return fit(name, model, tokenizer, examples, test, args, progress, score, lambda ids: _shown(tokenizer, ids))


def save_checkpoint(model, tokenizer, folder: str) -> None:
    """Save ``model`` and ``tokenizer`` as a plain Hugging Face folder that ``from_pretrained`` reads.

    A GGUF-loaded model refuses ``save_pretrained`` ("quantized with gguf and is not serializable") although its
    weights are de-quantized float32: a model of the same class built from its config without the quantization
    config takes its weights and saves. transformers 4.x reads a top-level ``rope_theta``; both are written.
    """
    import json
    import os

    config = copy.deepcopy(model.config)
    if getattr(config, "quantization_config", None) is not None:
        del config.quantization_config
        plain = type(model)(config)
        plain.load_state_dict(model.state_dict())
        model = plain
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta") or getattr(config, "rope_theta", None)
    path = os.path.join(folder, "config.json")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    data.pop("quantization_config", None)
    if theta is not None:
        data["rope_theta"] = theta
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)


def save_data(folder: str, name: str, quotes, eos_token: str) -> None:
    """Write ``quotes`` as JSON lines in the prompt-completion format, the completion closed by the EOS as trained."""
    import json
    import os

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
        for words, author in quotes:
            record = {"prompt": prompt_text(words), "completion": " " + " ".join(AUTHORS[author]) + eos_token}
            handle.write(json.dumps(record) + "\n")


def run(args, progress):
    """Load, then train stock and fixed from the same weights; ``({"stock", "fixed"}, curves, facts)``."""
    import torch
    import transformers.data.data_collator  # noqa: F401  (a pending eosfix.apply() lands here)

    import eosfix
    from eosfix.environment_variables import disabled_by_env

    if disabled_by_env():
        raise DemoError("EOSFIX_DISABLE is set, so eosfix stays off and both runs would be stock")
    load_start = time.perf_counter()
    tokenizer, notes = realmodel.load_tokenizer(args.model)
    if tokenizer.pad_token is None:
        # The tutorials' line, for a tokenizer published without a pad token.
        tokenizer.pad_token = tokenizer.eos_token
        notes.append("the tokenizer has no pad token as published; set pad_token = eos_token as the tutorials do")
    model = realmodel.load_model(args.model)
    initial = copy.deepcopy(model.state_dict())
    facts = {
        "model": args.model,
        "model_class": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "eos_token": tokenizer.eos_token,
        "pad_token": tokenizer.pad_token,
        "notes": notes,
        "load_seconds": round(time.perf_counter() - load_start, 1),
    }
    train, test = build_data(args.seed, args.train_size, args.test_size)
    examples = [
        tokenizer(prompt_text(words) + " " + " ".join(AUTHORS[author]) + tokenizer.eos_token)
        for words, author in train
    ]

    save = getattr(args, "save", None)
    if save:
        save_data(save, "train.jsonl", train, tokenizer.eos_token)
        save_data(save, "heldout.jsonl", test, tokenizer.eos_token)
    results, curves = {}, {}
    # unpatched() puts back exactly what the program had asked for (applied, pending or off) on the way out.
    with eosfix.unpatched():
        torch.manual_seed(args.seed)
        results["stock"], curves["stock"] = train_once("stock", model, tokenizer, examples, test, args, progress)
        if save:
            save_checkpoint(model, tokenizer, f"{save}/stock")
        model.load_state_dict(initial)
        with eosfix.patched():
            if not eosfix.is_applied():
                raise DemoError("eosfix could not be applied here (is EOSFIX_DISABLE set?); see `eosfix doctor`")
            torch.manual_seed(args.seed)
            results["fixed"], curves["fixed"] = train_once("fixed", model, tokenizer, examples, test, args, progress)
            if save:
                save_checkpoint(model, tokenizer, f"{save}/fixed")
    return results, curves, facts


def retitle(report: str, facts: dict) -> str:
    """The demo's report with a first line naming the real model, and any notes about its tokenizer."""
    lines = report.splitlines()
    lines[0] = (
        f"eosfix demo: {facts['model']} ({facts['model_class']}, {facts['parameters'] / 1e6:.1f}M parameters) "
        f"learns 'Quote: ... Author: <name>{facts['eos_token']}' with its tokenizer as published "
        f"(pad {facts['pad_token']!r}, eos {facts['eos_token']!r})"
    )
    lines[1:1] = [f"  note: {note}" for note in facts["notes"]]
    return "\n".join(lines)
