"""Import cost of ``import eosfix.autopatch``, as extra milliseconds over a baseline process.

Two situations, each measured from many alternated runs of two commands (the
baseline and the baseline plus the import), reported as the difference of the
medians:

1. nothing imported yet: ``python -c pass`` against ``python -c "import eosfix.autopatch"``;
   the import only registers the post-import hook;
2. transformers' collator module already imported: the import patches at once.
   Whole-process times vary by tens of ms here (importing transformers), so the
   import is also timed inside the process, which is the figure to read.

It also checks which heavy modules the import brings in by itself.

    python bench/import_cost.py [--runs 60] [--json out.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "numpy", "transformers", "wrapt", "tensorflow")


def wall_ms(code, env):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return (time.perf_counter() - start) * 1e3


def alternated(base, extra, runs, env):
    base_times, extra_times = [], []
    for i in range(runs):
        pair = ((base, base_times), (extra, extra_times))
        for code, bucket in pair if i % 2 == 0 else reversed(pair):
            bucket.append(wall_ms(code, env))
    return {
        "baseline_ms": statistics.median(base_times),
        "with_import_ms": statistics.median(extra_times),
        "extra_ms": statistics.median(extra_times) - statistics.median(base_times),
        "runs": runs,
    }


def in_process_ms(prelude, runs, env):
    code = (
        f"{prelude}\nimport time\nstart = time.perf_counter()\nimport eosfix.autopatch\n"
        "print((time.perf_counter() - start) * 1e3)"
    )
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True
            ).stdout.split()[-1]
        )
        for _ in range(runs)
    ]
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "runs": runs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what users see: with .pyc files
    env.pop("EOSFIX_AUTOPATCH", None)
    # Warm up: write .pyc files and fill the page cache.
    for code in ("import eosfix.autopatch", "import transformers.data.data_collator, wrapt, eosfix.autopatch"):
        subprocess.run([sys.executable, "-c", code], check=True, env=env)

    heavy_code = f"import sys, json, eosfix.autopatch; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    heavy = json.loads(
        subprocess.run([sys.executable, "-c", heavy_code], check=True, env=env, capture_output=True, text=True).stdout
    )
    collator = "import transformers.data.data_collator"
    report = {
        "cold": alternated("pass", "import eosfix.autopatch", args.runs, env),
        "cold_in_process": in_process_ms("", args.runs // 2, env),
        "after_transformers": alternated(
            collator, collator + "; import eosfix.autopatch", max(10, args.runs // 3), env
        ),
        "after_transformers_in_process": in_process_ms(collator, args.runs // 2, env),
        "heavy_modules_imported": heavy,
    }
    for name, row in report.items():
        print(f"{name:<32} {row}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
