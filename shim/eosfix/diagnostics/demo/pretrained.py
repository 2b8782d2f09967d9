"""``eosfix demo --model``: the demo's two runs on a real pretrained model with its own tokenizer.

The data is the demo's quotes in the Gemma tutorial's plain format, closed by the model's own EOS token
(``Quote: ... Author: Ada Lovelace<|im_end|>`` for SmolLM2). The tokenizer is used as published: with SmolLM2 it
already has pad == eos, so transformers' ``DataCollatorForLanguageModeling(mlm=False)`` drops every EOS label
without any ``pad_token = eos_token`` line. The model is fine-tuned in full twice from the same weights with the
same batch order, stock and with eosfix, then answers held-out quotes greedily.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from eosfix.diagnostics.demo.task import AUTHORS, Quote, build_data, prompt_text, training_text
from eosfix.diagnostics.demo.training import Progress, Settings, fit, stock_then_fixed
from eosfix.diagnostics.models import sources

# A few full fine-tuning steps are enough on a pretrained model; each step costs about 1-3 s on 2 cores.
DEFAULTS = Settings(steps=30, batch_size=8, lr=2e-4, train_size=240, test_size=40, eval_every=10)


def _load(source: str) -> tuple:
    """(tokenizer, model, facts) for ``source``; a tokenizer without a pad token gets pad = eos, as tutorials do."""
    start = time.perf_counter()
    tokenizer, notes = sources.load_tokenizer(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        notes.append("the tokenizer has no pad token as published; set pad_token = eos_token as the tutorials do")
    model = sources.load_model(source)
    facts = {
        "model": source,
        "model_class": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "eos_token": tokenizer.eos_token,
        "pad_token": tokenizer.pad_token,
        "notes": notes,
        "load_seconds": round(time.perf_counter() - start, 1),
    }
    return tokenizer, model, facts


def save_checkpoint(model: Any, tokenizer: Any, folder: str) -> None:
    """Save ``model`` and ``tokenizer`` as a plain Hugging Face folder that ``from_pretrained`` reads.

    A GGUF-loaded model refuses ``save_pretrained`` ("quantized with gguf and is not serializable") although its
    weights are de-quantized float32: a model of the same class built from its config without the quantization
    config takes its weights and saves. transformers 4.x reads a top-level ``rope_theta``; both are written.
    """
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


def save_data(folder: str, name: str, quotes: Sequence[Quote], eos_token: str) -> None:
    """Write ``quotes`` as JSON lines in the prompt-completion format, the completion closed by the EOS as trained."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
        for words, author in quotes:
            record = {"prompt": prompt_text(words), "completion": " " + " ".join(AUTHORS[author]) + eos_token}
            handle.write(json.dumps(record) + "\n")


def run(source: str, settings: Settings, progress: Progress, save: str | None = None) -> tuple[dict, dict, dict]:
    """Load, then train stock and fixed from the same weights; ``({"stock", "fixed"}, curves, facts)``.

    With ``save``, both fine-tuned checkpoints are kept (``save/stock``, ``save/fixed``) with the quotes as JSON
    lines (``save/train.jsonl``, ``save/heldout.jsonl``), for ``eosfix checkpoint``.
    """
    import torch

    tokenizer, model, facts = _load(source)
    initial = copy.deepcopy(model.state_dict())
    train, test = build_data(settings.seed, settings.train_size, settings.test_size)
    examples = [tokenizer(training_text(words, author, tokenizer.eos_token)) for words, author in train]
    if save:
        save_data(save, "train.jsonl", train, tokenizer.eos_token)
        save_data(save, "heldout.jsonl", test, tokenizer.eos_token)

    def train_one(name: str):
        model.load_state_dict(initial)
        torch.manual_seed(settings.seed)
        result = fit(name, model, tokenizer, examples, test, settings, progress)
        if save:
            save_checkpoint(model, tokenizer, os.path.join(save, name))
        return result

    results, curves = stock_then_fixed(train_one)
    return results, curves, facts


def title(facts: dict) -> str:
    """The report's first line for a real model."""
    return (
        f"eosfix demo: {facts['model']} ({facts['model_class']}, {facts['parameters'] / 1e6:.1f}M parameters) "
        f"learns 'Quote: ... Author: <name>{facts['eos_token']}' with its tokenizer as published "
        f"(pad {facts['pad_token']!r}, eos {facts['eos_token']!r})"
    )
