"""What ``eosfix checkpoint`` measures: the EOS probability at each answer end, and greedy stops.

Teacher-forced: one forward pass over each example as trained; the probability the model gives the EOS token at
the position where the data has it (from the logits one position earlier). Greedy: from the prompt of an example's
last answer, up to a bound set by the reference answer's length.
"""

from __future__ import annotations

import statistics

# Examples go through the model in batches of about this many tokens (padded), so the logits stay small.
TOKENS_PER_BATCH = 2048
HALF = 0.5


def batches(examples: list, budget: int = TOKENS_PER_BATCH):
    """Indices of ``examples`` in batches of similar length, each within ``budget`` padded tokens (or one example)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
    batch: list[int] = []
    width = 0
    for index in order:
        longest = max(width, len(examples[index].ids))
        if batch and longest * (len(batch) + 1) > budget:
            yield batch
            batch, longest = [], len(examples[index].ids)
        batch.append(index)
        width = longest
    if batch:
        yield batch


def eos_probabilities(model, examples: list, eos: int, device: str, progress) -> list:
    """Per example, the model's probability of ``eos`` at each of its answer ends (teacher-forced)."""
    import torch

    found = [None] * len(examples)
    bar = progress(total=len(examples), desc="P(EOS)")
    with torch.no_grad():
        for batch in batches(examples):
            width = max(len(examples[i].ids) for i in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                n = len(examples[i].ids)
                ids[row, :n], mask[row, :n] = torch.tensor(examples[i].ids), 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            for row, i in enumerate(batch):
                before = torch.tensor([end - 1 for end in examples[i].ends], device=logits.device)
                found[i] = torch.softmax(logits[row, before].float(), dim=-1)[:, eos].tolist()
            bar.update(len(batch))
    bar.close()
    return found


def summary(probabilities: list) -> dict:
    """Median, share above one half, and count of a list of per-example probability lists."""
    flat = [p for row in probabilities for p in row]
    return {
        "answer_ends": len(flat),
        "median": statistics.median(flat),
        "share_above_half": sum(p > HALF for p in flat) / len(flat),
    }


def bound(answer_length: int, limit: int) -> int:
    """How many new tokens a greedy answer may take and still count as stopping: twice the reference, plus 4."""
    return min(limit, 2 * answer_length + 4)


def greedy_stops(model, tokenizer, examples: list, device: str, limit: int, progress) -> dict:
    """Greedy generation from each example's last prompt: the stop rate and every generation."""
    import torch
    from transformers import GenerationConfig

    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    runs = []
    bar = progress(total=len(examples), desc="greedy")
    with torch.no_grad():
        for example in examples:
            most = bound(example.answer_length, limit)
            config = GenerationConfig(max_new_tokens=most, do_sample=False, eos_token_id=eos, pad_token_id=pad)
            ids = torch.tensor([example.prompt], device=device)
            output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
            new = output[0, len(example.prompt) :].tolist()
            stop = new.index(eos) + 1 if eos in new else None
            runs.append({"stopped": stop is not None, "new_tokens": stop or len(new), "bound": most, "ids": new})
            bar.update(1)
    bar.close()
    return {
        "prompts": len(runs),
        "stop_rate": sum(run["stopped"] for run in runs) / len(runs) if runs else None,
        "runs": runs,
    }
