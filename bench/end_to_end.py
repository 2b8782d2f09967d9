"""End-to-end effect: the demo's training, longer and over several seeds, stock against fixed.

Runs ``python -m eosfix demo --json`` once per seed (each run trains the tiny
Llama twice, stock and with eosfix, same data and batch order) and reports,
per side, the mean and the spread (standard deviation, min, max) of the stop
rate, the exact-answer rate and the EOS label coverage.

    python bench/end_to_end.py [--steps 1200] [--seeds 0 1 2 3 4] [--json out.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

METRICS = ("stop_rate", "exact_rate", "eos_label_coverage")


def run_seed(seed, steps):
    env = {k: v for k, v in os.environ.items() if k not in ("EOSFIX_AUTOPATCH", "EOSFIX_DISABLE")}
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "eosfix",
            "demo",
            "--json",
            "--no-progress",
            "--steps",
            str(steps),
            "--seed",
            str(seed),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - start
    return result


def spread(values):
    return {
        "mean": statistics.fmean(values),
        "stdev": statistics.pstdev(values),
        "min": min(values),
        "max": max(values),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    runs = []
    for seed in args.seeds:
        result = run_seed(seed, args.steps)
        runs.append(result)
        print(
            f"seed {seed}: "
            + "  ".join(
                f"{side} stop {result[side]['stop_rate']:.2f} exact {result[side]['exact_rate']:.2f}"
                for side in ("stock", "fixed")
            )
            + f"  ({result['wall_s']:.0f} s)",
            file=sys.stderr,
        )
    summary = {
        side: {metric: spread([run[side][metric] for run in runs]) for metric in METRICS}
        for side in ("stock", "fixed")
    }
    print(f"{'':<22}{'stock mean (sd) [min-max]':>30}{'fixed mean (sd) [min-max]':>30}")
    for metric in METRICS:
        cells = []
        for side in ("stock", "fixed"):
            s = summary[side][metric]
            cells.append(f"{s['mean']:.3f} ({s['stdev']:.3f}) [{s['min']:.2f}-{s['max']:.2f}]")
        print(f"{metric:<22}{cells[0]:>30}{cells[1]:>30}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"steps": args.steps, "seeds": args.seeds, "summary": summary, "runs": runs}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
