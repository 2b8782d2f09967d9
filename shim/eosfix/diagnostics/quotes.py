"""The demo's task and training loop, shared by ``eosfix demo`` and ``eosfix demo --model``.

Quotes in the format of the Hugging Face Gemma quotes tutorial (``Quote: ... Author: <name> <eos>``), six
authors with one theme each, and :func:`fit`, the loop both demos train with. It lives apart from the two
commands so that the real-model demo (``realdemo``) and the tiny one (``demo``) import it, not each other.
"""

import random
import time

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
EXTRA_TOKENS = 3  # how far past the answer generation may run before it counts as not stopping


class DemoError(Exception):
    """The demo cannot show the difference here (eosfix could not be applied)."""


def build_data(seed, n_train, n_test):
    """(train, test): disjoint lists of (quote words, author index), the same for a given seed."""
    rng = random.Random(seed)
    vocabulary = [word for theme in THEMES for word in theme] + list(COMMON)
    quotes, seen = [], set()
    while len(quotes) < n_train + n_test:
        author = rng.randrange(len(AUTHORS))
        words = (rng.choice(THEMES[author]), *rng.choices(vocabulary, k=rng.randint(2, 5)))
        if words not in seen:
            seen.add(words)
            quotes.append((words, author))
    return quotes[:n_train], quotes[n_train:]


def prompt_text(words):
    return "Quote: " + " ".join(words) + " Author:"


def training_text(words, author, eos_token):
    return f"{prompt_text(words)} {' '.join(AUTHORS[author])} {eos_token}"


def fit(name, model, tokenizer, examples, test, args, progress, score, shown):
    """Train ``model`` through transformers' collator, scoring with ``score``; return its record and loss curve.

    The training loop of ``eosfix demo`` and ``eosfix demo --model``: the same batch order for both runs
    (``args.seed``), a linear learning-rate decay, an evaluation every ``args.eval_every`` steps. ``score``
    returns ``(stop rate, exact rate, author rate, generations)``; ``shown`` turns a generation into text.
    """
    import torch
    from transformers import DataCollatorForLanguageModeling

    from eosfix.diagnostics.audit import audit

    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    coverage = audit(collator, examples=examples[: 4 * args.batch_size], batches=4).coverage
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / args.steps)
    order = torch.Generator().manual_seed(args.seed)  # the same batch order for both runs
    permutation, cursor = torch.randperm(len(examples), generator=order), 0

    losses, history = [], []
    start = time.perf_counter()
    bar = progress(total=args.steps, desc=f"{name:>5}")
    for step in range(1, args.steps + 1):
        if cursor + args.batch_size > len(examples):
            permutation, cursor = torch.randperm(len(examples), generator=order), 0
        batch = collator([examples[i] for i in permutation[cursor : cursor + args.batch_size].tolist()])
        cursor += args.batch_size
        # transformers 4.42's fast tokenizer adds token_type_ids, which Llama does not take.
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        bar.update(1)
        if step % args.eval_every == 0 and step < args.steps:
            stop_rate, exact_rate, _, _ = score(model, tokenizer, test)
            history.append((step, stop_rate, exact_rate))
            bar.set_postfix(loss=f"{loss.item():.3f}", stop=f"{stop_rate:.2f}")
    bar.close()
    stop_rate, exact_rate, author_rate, generations = score(model, tokenizer, test)
    history.append((args.steps, stop_rate, exact_rate))
    seconds = time.perf_counter() - start

    tail = losses[-max(1, args.steps // 10) :]
    record = {
        "stop_rate": stop_rate,
        "exact_rate": exact_rate,
        "author_rate": author_rate,
        "eos_label_coverage": coverage,
        "final_loss": round(sum(tail) / len(tail), 4),
        "seconds": round(seconds, 1),
        "history": [{"step": s, "stop_rate": r, "exact_rate": e} for s, r, e in history],
        "samples": [
            {"prompt": prompt_text(words), "generated": shown(tokens)}
            for (words, _), tokens in zip(test[: args.samples], generations)
        ],
    }
    return record, losses


def judge(ids, answer, names, eos, slack=EXTRA_TOKENS):
    """(stopped, exact, right_author) for one generation ``ids`` against the right ``answer`` (token lists).

    A stop is an EOS after a name's worth of tokens, at most ``slack`` late, in both demos; a real tokenizer
    gives names different lengths, so the name's worth is that of the name the model said (one of ``names``),
    or of the right answer when it said none.
    """
    first_eos = ids.index(eos) if eos in ids else -1
    said = next((name for name in names if ids[: len(name)] == name), answer)
    stopped = len(said) <= first_eos <= len(said) + slack
    return stopped, ids[: len(answer) + 1] == [*answer, eos], ids[: len(answer)] == answer
