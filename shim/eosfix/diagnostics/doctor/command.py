"""``eosfix doctor``: is this environment affected, and does eosfix fix it here?

It reads the installed versions without importing the libraries, then runs a
live probe: an in-memory tokenizer with pad = eos, a few examples through the
real ``DataCollatorForLanguageModeling``, once stock and once with eosfix, and
counts the real EOS tokens that keep their label. The process's own patch
state is put back as it was afterwards.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from eosfix._cli import debug_enabled, one_line

PROBE_TEXTS = ("the cat sat </s>", "a dog </s>", "hi </s> bye </s>")

# What each TRL release range does with this bug (README.md, "The bug"; read in the trl sources of each range).
_TRL_FACTS = (
    ("<0.7", "older than any release eosfix knows"),
    (
        ">=0.7,<0.16.1",
        "DataCollatorForCompletionOnlyLM and SFTTrainer's default collator use the affected "
        "transformers collator; SFTTrainer sets pad = eos when it loads the tokenizer itself",
    ),
    (
        ">=0.16.1,<0.20",
        "SFTTrainer has its own clean collator; DataCollatorForCompletionOnlyLM still inherits the bug",
    ),
    (">=0.20,<1.1", "no affected collator of its own; a transformers collator you pass yourself is affected"),
    (
        ">=1.1",
        "SFTTrainer overwrites the tokenizer's pad with eos; reusing that tokenizer with "
        "transformers' collator is affected",
    ),
)


def trl_note(version):
    from packaging.specifiers import SpecifierSet

    for specifier, note in _TRL_FACTS:
        if version in SpecifierSet(specifier):
            return note
    return ""


def _probe_once(padding_side, as_lists, return_tensors):
    """Collate the probe texts; return (eos_seen, eos_labelled), counted as ``eosfix.audit`` counts them."""
    from transformers import DataCollatorForLanguageModeling

    from eosfix.diagnostics.audit import count_eos_labels
    from eosfix.diagnostics.models.toy_tokenizer import make_tokenizer

    words = sorted({word for text in PROBE_TEXTS for word in text.split()} - {"</s>"})
    tokenizer = make_tokenizer(words, pad_is_eos=True, padding_side=padding_side)
    examples = [tokenizer(text) for text in PROBE_TEXTS]
    if as_lists:
        examples = [example["input_ids"] for example in examples]
    batch = DataCollatorForLanguageModeling(tokenizer, mlm=False, return_tensors=return_tensors)(examples)
    # Id lists give a batch without attention mask: the examples' lengths then tell their tokens from padding.
    counts = count_eos_labels(batch, tokenizer.eos_token_id, tokenizer.pad_token_id, examples, padding_side)
    return counts["eos_seen"], counts["eos_labelled"]


PROBE_CASES = (
    ("dict examples, right padding", "right", False, "pt"),
    ("id lists, left padding", "left", True, "pt"),
    ("dict examples, numpy", "right", False, "np"),
)


def probe():
    """EOS label counts per case, stock and with eosfix; the patch state is restored."""
    from importlib.util import find_spec

    import eosfix

    cases: tuple = PROBE_CASES
    if find_spec("torch") is None:  # transformers' collator returns numpy batches without torch
        cases = tuple((name, side, as_lists, "np") for name, side, as_lists, _ in PROBE_CASES)
    results = {}
    with eosfix.unpatched():
        stock = {name: _probe_once(*case) for name, *case in cases}
        with eosfix.patched():
            fixed = {name: _probe_once(*case) for name, *case in cases}
    for name, *_ in cases:
        results[name] = {"eos": stock[name][0], "stock_labelled": stock[name][1], "fixed_labelled": fixed[name][1]}
    return results


def supported_range():
    """The releases eosfix's runtime patch of transformers' collator was written and tested for, as pip reads them.

    Read from the target itself (``SUPPORTED`` of ``eosfix.targets``), the range the patcher checks.
    """
    from eosfix.targets import REQUIRED, load_target

    target = load_target(REQUIRED)
    return f"{target.DISTRIBUTION}{target.SUPPORTED}"


def diagnose(debug=False):
    """Everything the doctor knows, as a dict (the ``--json`` output)."""
    import eosfix
    from eosfix._versions import installed
    from eosfix.diagnostics.doctor import releases
    from eosfix.environment_variables import disabled_by_env

    report: dict[str, Any] = {
        "eosfix": eosfix.__version__,
        "python": sys.version.split()[0],
        "transformers": installed("transformers"),
        "trl": installed("trl"),
        "torch": installed("torch"),
        "numpy": installed("numpy"),
        "wrapt": installed("wrapt"),
        "disabled_by_env": disabled_by_env(),
        "patch_active": None,
        "affected": None,
        "fixed": None,
        "probe": None,
        "ok": False,
        "reason": "",
    }
    report["trl_note"] = trl_note(report["trl"]) if report["trl"] else None
    report["upstream"] = releases.check()
    if report["transformers"] is None:
        report["reason"] = "transformers is not installed, so there is nothing to check or patch."
        return report
    broken = _broken_dependency()
    if broken:
        report["reason"] = broken
        return report
    report["patch_active"] = eosfix.is_applied()
    try:
        results = probe()
    except Exception as error:
        report["reason"] = (
            f"the live probe failed ({one_line(error)}); repair the install it names and run `eosfix doctor` again "
            "(`eosfix doctor --debug` shows the traceback)."
        )
        if debug:
            raise
        return report
    report["probe"] = results
    report["affected"] = any(r["stock_labelled"] < r["eos"] for r in results.values())
    report["fixed"] = all(r["fixed_labelled"] == r["eos"] for r in results.values())
    if report["disabled_by_env"]:
        report["reason"] = "EOSFIX_DISABLE is set, so eosfix stays off; unset it to get the fix."
    elif not report["fixed"]:
        report["reason"] = (
            "eosfix could not make EOS keep its label with this transformers version; see the log above, "
            f"and pin a transformers release in eosfix's supported range ({supported_range()})."
        )
    else:
        report["ok"] = True
        report["reason"] = "safe with eosfix" + (
            "" if report["patch_active"] else ": add `import eosfix.autopatch` to your training script"
        )
    return report


def _broken_dependency():
    """Why wrapt or transformers cannot be imported here, or "" when both can."""
    for module, remedy in (("wrapt", "pip install --force-reinstall wrapt"), ("transformers.data.data_collator", "")):
        try:
            __import__(module)
        except Exception as error:  # a broken install may raise anything (OSError from a torch build, ...)
            name = module.split(".")[0]
            return (
                f"{name} cannot be imported ({one_line(error)}), so eosfix cannot patch anything here; "
                + (remedy or "repair the install that message names")
                + "."
            )
    return ""


def _yes_no(value):
    return {True: "yes", False: "no", None: "n/a"}[value]


def render(report):
    lines = [f"eosfix {report['eosfix']} doctor (Python {report['python']})", ""]
    for name in ("transformers", "trl", "torch", "numpy", "wrapt"):
        lines.append(f"  {name:<13}{report[name] or 'not installed'}")
    if report["trl_note"]:
        lines.append(f"  trl note:    {report['trl_note']}")
    for name, entry in (report.get("upstream") or {}).items():
        if entry["needs_sweep"]:
            lines.append(f"  upstream:    {name} {entry['installed']}: {entry['note']}")
    lines.append("")
    if report["probe"] is not None:
        lines.append(f"  affected (stock collator drops EOS labels with pad = eos): {_yes_no(report['affected'])}")
        lines.append(f"  patch active in this process: {_yes_no(report['patch_active'])}")
        lines.append("  live probe, real EOS tokens that keep their label:")
        for name, result in report["probe"].items():
            lines.append(
                f"    {name:<30} stock {result['stock_labelled']}/{result['eos']}"
                f"   with eosfix {result['fixed_labelled']}/{result['eos']}"
            )
        lines.append("")
    lines.append(("OK: " if report["ok"] else "NOT OK: ") + report["reason"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="eosfix doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="also probe your own tokenizer and chat template: a GGUF file, a tokenizer folder, 'smollm2' or a hub id",
    )
    args = parser.parse_args(argv)
    report = diagnose(debug=debug_enabled())
    if args.tokenizer:
        from eosfix.diagnostics.doctor import chat_template
        from eosfix.diagnostics.models import sources

        try:
            report["tokenizer"] = chat_template.tokenizer_report(args.tokenizer)
        except sources.RealModelError as error:
            print(f"eosfix doctor: {error}", file=sys.stderr)
            return 2
        report["ok"] = report["ok"] and report["tokenizer"]["fixed"]
        if not report["tokenizer"]["fixed"]:
            report["reason"] = (
                "with your tokenizer, eosfix did not give every assistant turn's closing token its label"
            )
        text = render(report).splitlines()
        text[-1:-1] = [*chat_template.render_lines(report["tokenizer"]), ""]
        print(json.dumps(report) if args.json else "\n".join(text))
        return 0 if report["ok"] else 1
    print(json.dumps(report) if args.json else render(report))
    return 0 if report["ok"] else 1
