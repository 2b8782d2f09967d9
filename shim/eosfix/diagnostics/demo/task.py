"""The demos' task: quotes in the format of the Hugging Face Gemma quotes tutorial.

``Quote: ... Author: <name><end>``, six authors with one theme each: a quote's first word comes from its
author's theme, so the author can be learnt from the quote. The same seed gives the same quotes.
"""

from __future__ import annotations

import random

AUTHORS = (
    ("Ada", "Lovelace"),
    ("Alan", "Turing"),
    ("Grace", "Hopper"),
    ("Emmy", "Noether"),
    ("Marie", "Curie"),
    ("Niels", "Bohr"),
)
# One theme per author: a quote's first word comes from its author's theme.
THEMES = (
    ("engine", "number", "loom", "pattern", "poetry", "machine", "card", "weave"),
    ("code", "mind", "puzzle", "logic", "tape", "symbol", "rule", "state"),
    ("ship", "bug", "compiler", "language", "navy", "program", "clock", "ask"),
    ("ring", "field", "symmetry", "algebra", "ideal", "form", "group", "law"),
    ("light", "radium", "glow", "element", "lab", "ray", "salt", "metal"),
    ("atom", "orbit", "jump", "quantum", "shell", "spectrum", "ice", "wave"),
)
# Filler words that may follow the first word of any quote.
COMMON = (
    "the",
    "of",
    "is",
    "a",
    "we",
    "all",
    "never",
    "more",
    "than",
    "what",
    "life",
    "fear",
    "know",
    "great",
    "small",
    "time",
    "work",
    "dream",
)


Quote = tuple[tuple[str, ...], int]  # (words, index into AUTHORS)


def build_data(seed: int, n_train: int, n_test: int) -> tuple[list[Quote], list[Quote]]:
    """(train, test): disjoint lists of (quote words, author index), the same for a given seed."""
    rng = random.Random(seed)
    vocabulary = [word for theme in THEMES for word in theme] + list(COMMON)
    quotes: list[Quote] = []
    seen: set[tuple[str, ...]] = set()
    while len(quotes) < n_train + n_test:
        author = rng.randrange(len(AUTHORS))
        words = (rng.choice(THEMES[author]), *rng.choices(vocabulary, k=rng.randint(2, 5)))
        if words not in seen:
            seen.add(words)
            quotes.append((words, author))
    return quotes[:n_train], quotes[n_train:]


def prompt_text(words: tuple[str, ...]) -> str:
    return "Quote: " + " ".join(words) + " Author:"


def training_text(words: tuple[str, ...], author: int, end: str) -> str:
    """One training example: the prompt, the author's name, then ``end`` (the EOS, with its separator)."""
    return f"{prompt_text(words)} {' '.join(AUTHORS[author])}{end}"


def answer_ids(tokenizer, author: int) -> list[int]:
    """The token ids of an author's name as it follows ``Author:`` in a training text."""
    return tokenizer(" " + " ".join(AUTHORS[author]), add_special_tokens=False)["input_ids"]
