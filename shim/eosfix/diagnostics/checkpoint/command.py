"""The command line of ``eosfix checkpoint``: arguments, the run, the report (text or ``--json``), exit status.

Exit status as ``eosfix doctor``'s: 0 the model learned to stop, 1 it did not or the figures are unclear, 2 the
check cannot run (a missing model, field, base or EOS; a missing dependency).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

from eosfix._cli import debug_enabled
from eosfix.diagnostics.checkpoint import data, loading, measure, verdict
from eosfix.diagnostics.checkpoint.data import CheckpointError

SAMPLES = 2  # greedy generations shown in the report


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eosfix checkpoint",
        description="Did a fine-tuned model learn to stop? Its EOS probability where its training answers ended "
        "(teacher-forced), greedy stops on a few of their prompts, and a verdict.",
    )
    parser.add_argument("model", metavar="MODEL", help="a model folder, a PEFT adapter folder, a GGUF file or smollm2")
    parser.add_argument(
        "--data", required=True, metavar="FILE", help="training examples: JSON lines or a save_to_disk folder"
    )
    parser.add_argument(
        "--base", metavar="PATH", help="the model before fine-tuning: compared with, and an adapter's base"
    )
    parser.add_argument("--tokenizer", metavar="PATH", help="the tokenizer training used (default: the checkpoint's)")
    parser.add_argument("--field", help="the text or messages field (default: messages, prompt/completion or text)")
    parser.add_argument("--limit", type=int, default=100, help="examples to read (default 100)")
    parser.add_argument("--generate", type=int, default=8, help="prompts to answer greedily (default 8; 0: none)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=512, help="a cap on each greedy answer's bound (default 512)"
    )
    parser.add_argument(
        "--append-eos", action="store_true", help="training appended the EOS to each text or completion"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return parser


def progress_factory(enabled: bool):
    from tqdm.auto import tqdm

    def progress(**kwargs):
        return tqdm(file=sys.stderr, disable=not enabled, leave=False, dynamic_ncols=True, **kwargs)

    return progress


def _decoded(tokenizer, ids):
    return " ".join(tokenizer.decode(ids).split())


def measure_base(loaded, examples, args, progress):
    with loading.base_model(loaded, args.device) as base:
        if base is None:
            return None
        return measure.summary(
            measure.eos_probabilities(base, examples, loaded.tokenizer.eos_token_id, args.device, progress)
        )


def run(args) -> dict:
    """Load, measure and judge; the report as a dict (the ``--json`` output)."""
    import torch  # noqa: F401  (a missing torch is one line before any loading)

    progress = progress_factory(args.progress)
    start = time.perf_counter()
    loaded = loading.prepare(args.model, args.base, args.tokenizer)
    tokenizer, eos = loaded.tokenizer, loaded.tokenizer.eos_token_id
    # The data before the model: a wrong field or data without EOS costs no model load.
    examples, form = data.load_examples(args.data, tokenizer, args.field, args.limit, args.append_eos)
    loading.attach(loaded, args.model, args.device)
    seconds = {"load": time.perf_counter() - start}
    start = time.perf_counter()
    probabilities = measure.eos_probabilities(loaded.model, examples, eos, args.device, progress)
    seconds["probabilities"] = time.perf_counter() - start
    start = time.perf_counter()
    prompts = [example for example in examples if example.prompt][: args.generate]
    greedy = measure.greedy_stops(loaded.model, tokenizer, prompts, args.device, args.max_new_tokens, progress)
    seconds["greedy"] = time.perf_counter() - start
    start = time.perf_counter()
    base = measure_base(loaded, examples, args, progress)
    seconds["base"] = time.perf_counter() - start
    tuned = measure.summary(probabilities)
    found = verdict.judge(tuned["median"], greedy["stop_rate"])
    samples = [
        {"prompt": _decoded(tokenizer, example.prompt), "generated": tokenizer.decode(run["ids"][: run["new_tokens"]])}
        for example, run in zip(prompts[:SAMPLES], greedy["runs"])
    ]
    return {
        "model": args.model,
        "kind": loaded.kind,
        "model_class": type(loaded.model).__name__,
        "base": loaded.base,
        "data": args.data,
        "form": form,
        "examples": len(examples),
        "eos_token": tokenizer.eos_token,
        "eos_token_id": eos,
        "notes": loaded.notes,
        "checkpoint": {**tuned, "probabilities": probabilities},
        "base_model": base,
        "greedy": {key: greedy[key] for key in ("prompts", "stop_rate")},
        "greedy_bound": "twice the reference answer's tokens plus 4, at most --max-new-tokens",
        "samples": samples,
        "verdict": found,
        "advice": verdict.advice(found, tuned["median"], base and base["median"]),
        "ok": found == verdict.LEARNED,
        "seconds": {key: round(value, 1) for key, value in seconds.items()},
    }


def render(report: dict) -> str:
    lines = [
        f"eosfix checkpoint: {report['model']} ({report['model_class']}"
        + (f", an adapter on {report['base']})" if report["kind"] == "adapter" else ")"),
        f"  data {report['data']} ({report['form']}): {report['examples']} examples, "
        f"{report['checkpoint']['answer_ends']} answer ends, "
        f"EOS {report['eos_token']!r} (id {report['eos_token_id']})",
        *(f"  note: {note}" for note in report["notes"]),
        "",
        f"  P(EOS) where an answer ended, teacher-forced   {'median':>8}   {'share > 0.5':>11}",
        _row("this checkpoint", report["checkpoint"]),
    ]
    if report["base_model"] is not None:
        lines.append(_row(f"base model ({report['base']})", report["base_model"]))
    greedy = report["greedy"]
    if greedy["prompts"]:
        lines += [
            "",
            f"  greedy stop rate on {greedy['prompts']} prompts: {greedy['stop_rate']:.2f}"
            " (EOS within twice the reference answer, plus 4 tokens)",
        ]
        for sample in report["samples"]:
            lines += [f"    {sample['prompt'][-70:]}", f"      -> {' '.join(sample['generated'].split())[:200]}"]
    seconds = ", ".join(f"{name} {value:.1f}" for name, value in report["seconds"].items())
    lines += ["", f"  seconds: {seconds}", "", report["verdict"], f"  advice: {report['advice']}"]
    return "\n".join(lines)


def _row(label: str, figures: dict) -> str:
    median = figures["median"]
    shown = f"{median:.4f}" if median >= 1e-4 or median == 0 else f"{median:.0e}"
    return f"    {label[:42]:<44}{shown:>8}   {figures['share_above_half']:>11.2f}"


@contextlib.contextmanager
def _hub_progress(enabled: bool):
    """transformers' own progress bars (loading weights) follow ``--no-progress`` too; put back afterwards."""
    from transformers.utils import logging as hf_logging

    was = getattr(hf_logging, "is_progress_bar_enabled", lambda: True)()
    if not enabled and hasattr(hf_logging, "disable_progress_bar"):
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was and not enabled and hasattr(hf_logging, "enable_progress_bar"):
            hf_logging.enable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.limit < 1 or args.generate < 0 or args.max_new_tokens < 1:
        print("eosfix checkpoint: need --limit >= 1, --generate >= 0 and --max-new-tokens >= 1", file=sys.stderr)
        return 2
    args.progress = args.progress and sys.stderr.isatty()
    from eosfix.diagnostics.models.sources import RealModelError

    try:
        with _hub_progress(args.progress):
            report = run(args)
    except (CheckpointError, RealModelError) as error:
        if debug_enabled():
            raise
        print(f"eosfix checkpoint: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else render(report))
    return 0 if report["ok"] else 1
