"""Collator overhead: stock against patched torch_call / numpy_call, interleaved in one process.

For every shape the same examples go through the real
DataCollatorForLanguageModeling (pad = eos), in alternating rounds of stock
(eosfix.revert()) and patched (eosfix.apply()) calls, so that drift in the
machine's speed hits both sides alike. Reports the median time per call of
each side and their ratio.

    python bench/collator_overhead.py [--rounds 30] [--json out.json]
"""

import argparse
import json
import platform
import random
import statistics
import sys
import time

SHAPES = ((8, 128), (16, 512), (32, 1024), (64, 2048))
FORMS = ("dict", "list")
SIDES = ("right", "left")
RETURN_TENSORS = ("pt", "np")


def make_tokenizer(padding_side):
    from eosfix.diagnostics.models.toy_tokenizer import make_tokenizer as offline_tokenizer

    return offline_tokenizer([f"w{i}" for i in range(1000)], pad_is_eos=True, padding_side=padding_side)


def make_examples(tokenizer, batch, length, form, rng):
    eos = tokenizer.eos_token_id
    vocab = len(tokenizer)
    examples = []
    for _ in range(batch):
        n = rng.randint(length // 2, length)
        ids = [rng.randrange(5, vocab) for _ in range(n - 1)] + [eos]
        examples.append({"input_ids": ids, "attention_mask": [1] * n} if form == "dict" else ids)
    return examples


def time_calls(collator, examples, calls):
    start = time.perf_counter_ns()
    for _ in range(calls):
        collator(examples)
    return (time.perf_counter_ns() - start) / calls / 1e3  # microseconds per call


def measure(rounds, calls_for):
    from transformers import DataCollatorForLanguageModeling

    import eosfix

    rng = random.Random(0)
    rows = []
    for return_tensors in RETURN_TENSORS:
        for side in SIDES:
            tokenizer = make_tokenizer(side)
            collator = DataCollatorForLanguageModeling(tokenizer, mlm=False, return_tensors=return_tensors)
            for form in FORMS:
                for batch, length in SHAPES:
                    examples = make_examples(tokenizer, batch, length, form, rng)
                    calls = calls_for(batch, length)
                    # Warm up both paths (first calls allocate and import).
                    eosfix.revert(), time_calls(collator, examples, 2)
                    eosfix.apply(), time_calls(collator, examples, 2)
                    stock, fixed = [], []
                    for r in range(rounds):
                        # Alternate which side goes first, so neither always runs on a warmer cache.
                        order = (
                            (("stock", stock), ("fixed", fixed))
                            if r % 2 == 0
                            else (("fixed", fixed), ("stock", stock))
                        )
                        for name, bucket in order:
                            eosfix.apply() if name == "fixed" else eosfix.revert()
                            bucket.append(time_calls(collator, examples, calls))
                    eosfix.revert()
                    row = {
                        "return_tensors": return_tensors,
                        "padding_side": side,
                        "examples": form,
                        "shape": f"{batch}x{length}",
                        "stock_us": statistics.median(stock),
                        "fixed_us": statistics.median(fixed),
                    }
                    row["ratio"] = row["fixed_us"] / row["stock_us"]
                    rows.append(row)
                    print(
                        f"{return_tensors} {side:<5} {form:<4} {row['shape']:>8}  stock {row['stock_us']:>9.1f} us"
                        f"  fixed {row['fixed_us']:>9.1f} us  ratio {row['ratio']:.3f}",
                        file=sys.stderr,
                    )
    return rows


def machine():
    import os
    from importlib import metadata

    versions = {name: metadata.version(name) for name in ("transformers", "torch", "numpy", "wrapt", "tokenizers")}
    return {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        **versions,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--budget-ms", type=float, default=20.0, help="target time per round per side")
    parser.add_argument("--json", help="write the rows and the machine to this file")
    args = parser.parse_args(argv)

    def calls_for(batch, length):
        # Roughly --budget-ms per round: small batches need many calls per timing.
        return max(1, int(args.budget_ms * 1000 / (batch * length * 0.02 + 50)))

    rows = measure(args.rounds, calls_for)
    worst = max(rows, key=lambda row: row["ratio"])
    print(
        f"worst ratio {worst['ratio']:.3f} ({worst['return_tensors']} {worst['padding_side']} "
        f"{worst['examples']} {worst['shape']})"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine(), "rows": rows}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
