"""The training both demos share: one loop, and the pair of runs (stock, then with eosfix) they compare.

Every batch goes through transformers' real ``DataCollatorForLanguageModeling(mlm=False)``; the two runs see
the same batches in the same order (``Settings.seed``), so the collator's labels are the only difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eosfix.diagnostics.demo.evaluation import score, shown
from eosfix.diagnostics.demo.task import Quote, prompt_text


class DemoError(Exception):
    """The demo cannot show the difference here (eosfix could not be applied)."""


@dataclass(frozen=True)
class Settings:
    """The sizes of one demo: training steps, batch, learning rate, data, seed and what to report."""

    steps: int
    batch_size: int
    lr: float
    train_size: int
    test_size: int
    seed: int = 0
    eval_every: int = 100
    samples: int = 4


Progress = Callable[..., Any]  # tqdm's signature: progress(total=..., desc=...) -> a bar
Record = dict
Result = tuple[Record, list[float]]  # (the run's record, its loss curve)


def progress_bars(enabled: bool) -> Progress:
    """A tqdm factory on stderr; with ``enabled`` False its bars draw nothing."""
    import sys

    from tqdm.auto import tqdm

    def progress(**kwargs: Any) -> Any:
        return tqdm(file=sys.stderr, disable=not enabled, leave=False, dynamic_ncols=True, **kwargs)

    return progress


def _batches(examples: Sequence[dict], settings: Settings) -> Iterator[list[dict]]:
    """Shuffled batches, reshuffled when the examples run out; the same order for a given seed."""
    import torch

    order = torch.Generator().manual_seed(settings.seed)
    size = settings.batch_size
    while True:
        permutation = torch.randperm(len(examples), generator=order).tolist()
        for cursor in range(0, len(examples) - size + 1, size):
            yield [examples[i] for i in permutation[cursor : cursor + size]]


def _samples(tokenizer, test: Sequence[Quote], generations: Sequence, count: int) -> list[dict]:
    return [
        {"prompt": prompt_text(words), "generated": shown(tokenizer, ids)}
        for (words, _), ids in zip(test[:count], generations)
    ]


def fit(
    name: str,
    model,
    tokenizer,
    examples: Sequence[dict],
    test: Sequence[Quote],
    settings: Settings,
    progress: Progress,
) -> Result:
    """Train ``model`` through transformers' collator; return its record and its loss curve."""
    import torch
    from transformers import DataCollatorForLanguageModeling

    from eosfix.diagnostics.audit import audit

    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    coverage = audit(collator, examples=examples[: 4 * settings.batch_size], batches=4).coverage
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / settings.steps)

    losses, history = [], []
    start = time.perf_counter()
    bar = progress(total=settings.steps, desc=f"{name:>5}")
    for step, examples_in_batch in enumerate(_batches(examples, settings), start=1):
        batch = collator(examples_in_batch)
        # transformers 4.42's fast tokenizer adds token_type_ids, which Llama does not take.
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        bar.update(1)
        if step == settings.steps:
            break
        if step % settings.eval_every == 0:
            stop_rate, exact_rate, _, _ = score(model, tokenizer, test)
            history.append({"step": step, "stop_rate": stop_rate, "exact_rate": exact_rate})
            bar.set_postfix(loss=f"{loss.item():.3f}", stop=f"{stop_rate:.2f}")
    bar.close()
    stop_rate, exact_rate, author_rate, generations = score(model, tokenizer, test)
    history.append({"step": settings.steps, "stop_rate": stop_rate, "exact_rate": exact_rate})
    tail = losses[-max(1, settings.steps // 10) :]
    record = {
        "stop_rate": stop_rate,
        "exact_rate": exact_rate,
        "author_rate": author_rate,
        "eos_label_coverage": coverage,
        "final_loss": round(sum(tail) / len(tail), 4),
        "seconds": round(time.perf_counter() - start, 1),
        "history": history,
        "samples": _samples(tokenizer, test, generations, settings.samples),
    }
    return record, losses


def stock_then_fixed(train: Callable[[str], Result]) -> tuple[dict[str, Record], dict[str, list[float]]]:
    """``train("stock")`` with eosfix off, then ``train("fixed")`` with it on; eosfix is put back as it was."""
    import transformers.data.data_collator  # noqa: F401  (a pending eosfix.apply() lands here)

    import eosfix
    from eosfix.environment_variables import disabled_by_env

    if disabled_by_env():
        raise DemoError("EOSFIX_DISABLE is set, so eosfix stays off and both runs would be stock")
    results, curves = {}, {}
    # unpatched() puts back exactly what the program had asked for (applied, pending or off) on the way out.
    with eosfix.unpatched():
        results["stock"], curves["stock"] = train("stock")
        with eosfix.patched():
            if not eosfix.is_applied():
                raise DemoError("eosfix could not be applied here (is EOSFIX_DISABLE set?); see `eosfix doctor`")
            results["fixed"], curves["fixed"] = train("fixed")
    return results, curves
