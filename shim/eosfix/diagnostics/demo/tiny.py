"""The default demo: a tiny random-init Llama learns the quotes with an in-memory tokenizer, pad = eos.

Offline and on the CPU, in well under a minute. A ``LlamaForCausalLM`` of two layers (hidden size 64) is
trained twice, with the same seed, initial weights and batch order, through transformers' real
``DataCollatorForLanguageModeling(mlm=False)`` with ``pad_token = eos_token``: once stock, once with eosfix.
Stock, the collator drops every EOS label, so EOS is never a target and the model runs on after the name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from eosfix.diagnostics.demo.task import AUTHORS, COMMON, THEMES, build_data, training_text
from eosfix.diagnostics.demo.training import Progress, Settings, fit, progress_bars, stock_then_fixed

DEFAULTS = Settings(steps=600, batch_size=16, lr=3e-3, train_size=1200, test_size=200)


def demo_tokenizer():
    """The in-memory WordLevel tokenizer over the task's words, with pad = eos as the recipes set it."""
    from eosfix.diagnostics.models.toy_tokenizer import make_tokenizer

    words = ["Quote:", "Author:", *(w for t in THEMES for w in t), *COMMON, *(n for a in AUTHORS for n in a)]
    return make_tokenizer(words, pad_is_eos=True)


def tiny_llama(tokenizer, seed: int):
    """A random-init two-layer Llama sized for the tokenizer, the same weights for a given seed."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=32,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


@contextlib.contextmanager
def _quiet_and_repeatable() -> Iterator[None]:
    """transformers' notices off, deterministic kernels, one thread; everything put back afterwards.

    A model this small runs fastest on one thread: more threads spend their time waiting on each other (ten
    times slower on a busy 2-core machine), and one thread gives the same numbers on every machine.
    """
    import torch
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    was_deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    hf_logging.set_verbosity_error()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)
        hf_logging.set_verbosity(level)


def run(settings: Settings, progress: Progress | None = None) -> tuple[dict, dict]:
    """Train stock and fixed; return ``({"stock": record, "fixed": record}, loss curves)``."""
    progress = progress or progress_bars(False)
    tokenizer = demo_tokenizer()
    train, test = build_data(settings.seed, settings.train_size, settings.test_size)
    examples = [tokenizer(training_text(words, author, " " + tokenizer.eos_token)) for words, author in train]

    def train_one(name: str):
        return fit(name, tiny_llama(tokenizer, settings.seed), tokenizer, examples, test, settings, progress)

    with _quiet_and_repeatable():
        return stock_then_fixed(train_one)
