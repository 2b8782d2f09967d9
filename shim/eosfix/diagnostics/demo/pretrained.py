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

from eosfix.diagnostics.demo.task import build_data, training_text
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


def run(source: str, settings: Settings, progress: Progress) -> tuple[dict, dict, dict]:
    """Load, then train stock and fixed from the same weights; ``({"stock", "fixed"}, curves, facts)``."""
    import torch

    tokenizer, model, facts = _load(source)
    initial = copy.deepcopy(model.state_dict())
    train, test = build_data(settings.seed, settings.train_size, settings.test_size)
    examples = [tokenizer(training_text(words, author, tokenizer.eos_token)) for words, author in train]

    def train_one(name: str):
        model.load_state_dict(initial)
        torch.manual_seed(settings.seed)
        return fit(name, model, tokenizer, examples, test, settings, progress)

    results, curves = stock_then_fixed(train_one)
    return results, curves, facts


def title(facts: dict) -> str:
    """The report's first line for a real model."""
    return (
        f"eosfix demo: {facts['model']} ({facts['model_class']}, {facts['parameters'] / 1e6:.1f}M parameters) "
        f"learns 'Quote: ... Author: <name>{facts['eos_token']}' with its tokenizer as published "
        f"(pad {facts['pad_token']!r}, eos {facts['eos_token']!r})"
    )
