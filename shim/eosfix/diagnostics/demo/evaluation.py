"""How the demos judge a model: greedy answers to held-out quotes, and whether each one stopped.

Both demos, and ``bench/real_model.py``, score with these functions, so "stop rate" means one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from eosfix.diagnostics.demo.task import AUTHORS, Quote, answer_ids, prompt_text

EXTRA_TOKENS = 3  # how far past the answer generation may run before it counts as not stopping


def judge(
    ids: Sequence, answer: Sequence, names: Sequence[Sequence], eos: object, slack: int = EXTRA_TOKENS
) -> tuple[bool, bool, bool]:
    """(stopped, exact, right_author) for one generation ``ids`` against the right ``answer`` (token lists).

    A stop is an EOS after a name's worth of tokens, at most ``slack`` late; a real tokenizer gives names
    different lengths, so the name's worth is that of the name the model said (one of ``names``), or of the
    right answer when it said none.
    """
    ids, answer = list(ids), list(answer)
    first_eos = ids.index(eos) if eos in ids else -1
    said = next((list(name) for name in names if ids[: len(name)] == list(name)), answer)
    stopped = len(said) <= first_eos <= len(said) + slack
    return stopped, ids[: len(answer) + 1] == [*answer, eos], ids[: len(answer)] == answer


def greedy(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, add_special_tokens: bool = True) -> list:
    """Greedy continuations (id lists); prompts of one token length run as one batch, so nothing is padded."""
    import torch

    encoded = [tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"] for p in prompts]
    by_length: dict[int, list[int]] = {}
    for index, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(index)
    outputs: list = [None] * len(prompts)
    model.eval()
    with torch.no_grad():
        for width, indices in by_length.items():
            ids = torch.tensor([encoded[i] for i in indices])
            for _ in range(max_new_tokens):
                logits = model(input_ids=ids, use_cache=False).logits[:, -1]
                ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
            for row, i in zip(ids.tolist(), indices):
                outputs[i] = row[width:]
    model.train()
    return outputs


def score(model, tokenizer, test: Sequence[Quote]) -> tuple[float, float, float, list]:
    """(stop_rate, exact_rate, author_rate, generations) on the held-out quotes."""
    eos = tokenizer.eos_token_id
    names = [answer_ids(tokenizer, author) for author in range(len(AUTHORS))]
    longest = max(len(name) for name in names)
    generations = greedy(model, tokenizer, [prompt_text(w) for w, _ in test], longest + EXTRA_TOKENS + 1)
    judged = [judge(ids, names[author], names, eos) for ids, (_, author) in zip(generations, test)]
    stops, exact, right_author = (sum(column) / len(test) for column in zip(*judged))
    return stops, exact, right_author, generations


def shown(tokenizer, ids: Sequence[int]) -> str:
    """A generation as text, cut after its first EOS (what a ``generate()`` call would return)."""
    ids = list(ids)
    eos = tokenizer.eos_token_id
    if eos in ids:
        ids = ids[: ids.index(eos) + 1]
    return tokenizer.decode(ids)
