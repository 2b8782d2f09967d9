"""Every carrier of the label rule against one table: ``spec/label_rule.json``.

The carriers are the runtime shim (in this process), the vendor patches
(``eosfix vendor`` on copies of the installed transformers and trl) and the
upstream patch (``upstream_pr/transformers``, applied to a copy of the
installed transformers). The copies run in fresh interpreters with eosfix
switched off (``spec_check.py``). Each row says what stock does, what the rule
gives, and, where a carrier differs on purpose, what it gives and why. Random
batches then check the invariant itself against stock: labels differ from
stock only at EOS tokens that belong to an example.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import warnings
from importlib.util import find_spec
from pathlib import Path

import pytest
from helpers import (
    COMPLETION_ONLY_FILE,
    IGNORE,
    clean_env,
    collate,
    copy_package,
    json_reports,
    load_cases,
    start_without_eosfix,
    vendor_patches,
    version_in,
)
from hypothesis import given
from hypothesis import strategies as st

import eosfix
from eosfix.vendoring import vendor

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
UPSTREAM_PR = REPO / "upstream_pr" / "transformers"
CASES = load_cases()
EOS, PAD, UNK = 2, 3, 0
PAD_IDS = {"eos": EOS, "pad": PAD, "unk": UNK}
HAS_TORCH = find_spec("torch") is not None
TRANSFORMERS_PATCHED = bool(vendor_patches("transformers"))
TRL_PATCHED = bool(vendor_patches("trl", COMPLETION_ONLY_FILE))  # DataCollatorForCompletionOnlyLM exists


def params(cases):
    return [
        pytest.param(case, rt, id=f"{case['id']}/{rt}")
        for case in cases
        for rt in case["return_tensors"]
        if rt == "np" or HAS_TORCH
    ]


PARAMS = params(CASES)
LM_PARAMS = params([case for case in CASES if case["collator"] == "lm"])


def expected(case, carrier):
    return case.get("carriers", {}).get(carrier, {}).get("labels", case["labels"])


def skip_if_not_here(case):
    if case["collator"] == "completion" and not TRL_PATCHED:
        pytest.skip("trl is absent or has no DataCollatorForCompletionOnlyLM")


# --- the table itself -----------------------------------------------------------------------------------


def test_every_row_keeps_the_invariant_against_its_stock_column():
    # The table cannot promise what the invariant forbids: a label may differ from stock only where stock
    # masked a pad id that is the EOS (the rule gives the EOS its label back).
    for case in CASES:
        for carrier, labels in [("rule", case["labels"])] + [
            (k, v["labels"]) for k, v in case.get("carriers", {}).items()
        ]:
            for row, (new, old) in enumerate(zip(labels, case["stock"])):
                assert len(new) == len(old), (case["id"], carrier, row)
                for label, stock in zip(new, old):
                    if label != stock:
                        assert (case["pad"], stock, label) == ("eos", IGNORE, EOS), (case["id"], carrier, row)


def test_readme_lists_exactly_the_rows_where_carriers_differ():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- carrier-differences:start -->", 1)[1].split("<!-- carrier-differences:end -->", 1)[0]
    listed = set(re.findall(r"`([a-z0-9-]+)`", block))
    differing = {case["id"] for case in CASES if case.get("carriers")}
    assert differing and listed == differing


# --- the runtime shim and stock, in this process -------------------------------------------------------


@pytest.mark.parametrize("case, return_tensors", PARAMS)
def test_stock_gives_the_stock_column(case, return_tensors, unpatched):
    skip_if_not_here(case)
    assert collate(case, return_tensors) == case["stock"]


@pytest.mark.parametrize("case, return_tensors", PARAMS)
def test_shim_meets_the_spec(case, return_tensors, unpatched):
    skip_if_not_here(case)
    with eosfix.patched():
        assert collate(case, return_tensors) == expected(case, "shim")


# --- the patches, in fresh interpreters ---------------------------------------------------------------


def _spec_check(pythonpath, cases_file):
    return start_without_eosfix("spec_check.py", str(cases_file), pythonpath=pythonpath)


def random_cases(count, seed=0):
    """Cases of the spec's form with random ids, padding, masks and input forms (no expected labels)."""
    rng = random.Random(seed)
    words = list(range(5, 18))
    cases = []
    for n in range(count):
        pad = rng.choice(["eos", "eos", "pad", "unk"])
        form = rng.choice(["dict", "dict+mask", "list", "tensor"])
        examples = []
        for _ in range(rng.randint(1, 4)):
            body = [rng.choice(words + [EOS, EOS, UNK, PAD, 1]) for _ in range(rng.randint(1, 7))]
            left, right = (rng.randint(0, 3), rng.randint(0, 3)) if rng.random() < 0.3 else (0, 0)
            ids = [PAD_IDS[pad]] * left + body + [PAD_IDS[pad]] * right
            mask = [0] * left + [int(rng.random() > 0.1) for _ in body] + [0] * right
            examples.append({"input_ids": ids, "attention_mask": mask} if form == "dict+mask" else ids)
        cases.append(
            {
                "id": f"random-{n}",
                "collator": "lm",
                "pad": pad,
                "padding_side": rng.choice(["right", "left"]),
                "form": form,
                # tokenizer.pad pads the examples' own masks only when attention_mask is a model input.
                "tokenizer_attention_mask": form == "dict+mask" or rng.random() < 0.8,
                "pad_to_multiple_of": rng.choice([None, None, 4, 8]),
                "return_tensors": ["pt", "np"] if HAS_TORCH else ["np"],
                "examples": examples,
            }
        )
    return cases


RANDOM_CASES = random_cases(150)


@pytest.fixture(scope="module")
def carriers(tmp_path_factory):
    """spec_check.py results per carrier: stock, vendor (eosfix vendor) and upstream (the PR's patch)."""
    if not TRANSFORMERS_PATCHED:
        pytest.skip("this transformers no longer masks labels by value: eosfix vendor has nothing to patch")
    root = tmp_path_factory.mktemp("carriers")
    cases_file = root / "cases.json"
    cases_file.write_text(json.dumps({"cases": CASES + RANDOM_CASES}), encoding="utf-8")

    vendored = [copy_package("transformers", root / "vendor")]
    if TRL_PATCHED:
        vendored.append(copy_package("trl", root / "vendor_trl"))
    for copy in vendored:
        assert vendor.main([str(copy)]) == 0

    upstream = copy_package("transformers", root / "upstream")
    # a/src/transformers/data/data_collator.py: -p3 leaves the path inside the package directory.
    subprocess.run(
        ["git", "apply", "-p3", str(UPSTREAM_PR / "data_collator-keep-eos-labels.patch")],
        cwd=upstream,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(root)},
        check=True,
    )
    started = {
        "stock": _spec_check([], cases_file),
        "vendor": _spec_check([copy.parent for copy in vendored], cases_file),
        "upstream": _spec_check([upstream.parent], cases_file),
    }
    results = json_reports(started)
    assert results["vendor"]["transformers"].startswith(str(root / "vendor"))
    assert results["upstream"]["transformers"].startswith(str(upstream))
    return results


@pytest.mark.parametrize("case, return_tensors", PARAMS)
def test_vendor_patches_meet_the_spec(case, return_tensors, carriers):
    skip_if_not_here(case)
    assert carriers["vendor"]["results"][f"{case['id']}/{return_tensors}"] == expected(case, "vendor")


@pytest.mark.parametrize("case, return_tensors", LM_PARAMS)
def test_upstream_patch_meets_the_spec(case, return_tensors, carriers):
    assert carriers["upstream"]["results"][f"{case['id']}/{return_tensors}"] == expected(case, "upstream")


# --- the invariant on random batches ------------------------------------------------------------------


def _rows(case):
    return [e["input_ids"] if isinstance(e, dict) else e for e in case["examples"]]


def _own_eos(case, width):
    """Per row, the positions of EOS tokens that belong to the example (its mask, or its length)."""
    own = []
    for example in case["examples"]:
        ids = example["input_ids"] if isinstance(example, dict) else example
        mask = example["attention_mask"] if isinstance(example, dict) else [1] * len(ids)
        start = 0 if case["padding_side"] == "right" else width - len(ids)
        own.append({start + j for j, (token, keep) in enumerate(zip(ids, mask)) if token == EOS and keep})
    return own


def _may_guess(case):
    """Whether the shim's pre-padding guess can apply: a mask-less example with 2+ pad ids at an edge."""
    if case["form"] == "dict+mask" or case["pad"] != "eos":
        return False
    return any(row[:2] == [EOS, EOS] or row[-2:] == [EOS, EOS] for row in _rows(case))


def assert_invariant(case, stock, labels, exact):
    """Labels differ from stock only at (and, when ``exact``, at every) EOS of an example, when pad == eos."""
    assert len(labels) == len(stock)
    own = _own_eos(case, len(stock[0])) if case["pad"] == "eos" else [set() for _ in stock]
    for row, (new, old, allowed) in enumerate(zip(labels, stock, own)):
        differ = {j for j, (a, b) in enumerate(zip(new, old)) if a != b}
        assert differ <= allowed, (case["id"], row, new, old)
        assert all(new[j] == EOS and old[j] == IGNORE for j in differ), (case["id"], row)
        if exact:
            assert differ == {j for j in allowed if old[j] == IGNORE}, (case["id"], row, new, old)


@pytest.mark.parametrize("carrier", ["vendor", "upstream"])
def test_patches_hold_the_invariant_on_random_batches(carrier, carriers):
    stock, results = carriers["stock"]["results"], carriers[carrier]["results"]
    checked = 0
    for case in RANDOM_CASES:
        for rt in case["return_tensors"]:
            key = f"{case['id']}/{rt}"
            assert_invariant(case, stock[key], results[key], exact=True)
            checked += 1
    assert checked >= len(RANDOM_CASES)


@st.composite
def random_case(draw):
    return random_cases(1, seed=draw(st.integers(0, 2**32 - 1)))[0]


@given(random_case())
def test_shim_holds_the_invariant_against_stock(case):
    for rt in case["return_tensors"]:
        eosfix.revert()
        stock = collate(case, rt)
        with eosfix.patched(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = collate(case, rt)
        assert_invariant(case, stock, labels, exact=not _may_guess(case))


# --- the upstream PR's own tests ----------------------------------------------------------------------


def _upstream_tests(patch_first):
    """Run the PR's test file on the installed transformers, with eosfix applied first or switched off."""
    env = clean_env() if patch_first else clean_env(EOSFIX_DISABLE="1")
    env.pop("PYTHONPATH", None)
    test_file = str(UPSTREAM_PR / "test_data_collator_eos_labels.py")
    code = (
        "import sys, pytest\n"
        + ("import eosfix.autopatch\n" if patch_first else "")
        + f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', {test_file!r}]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=UPSTREAM_PR, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(
    not version_in("transformers", ">=5.23"),
    reason="the PR's tests are written against the newest transformers (5.25; verify.sh also passes on 5.23)",
)
def test_upstream_pr_tests_pass_with_the_shim_and_fail_without():
    try:
        import transformers.testing_utils  # noqa: F401  (the PR's test file needs it)
    except ImportError as error:
        # transformers <= 4.4x's testing_utils imports pytest internals that pytest 9 removed. The PR targets
        # the newest release; its patch still runs against the spec here (test_upstream_patch_meets_the_spec).
        pytest.skip(f"transformers.testing_utils does not import with this pytest: {error}")
    proc = _upstream_tests(patch_first=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _upstream_tests(patch_first=False)
    assert proc.returncode == 1 and " failed" in proc.stdout, proc.stdout + proc.stderr


def test_upstream_pr_reads_the_spec_rows_that_concern_transformers():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from make_patches import upstream_cases_json
    finally:
        sys.path.pop(0)
    assert (UPSTREAM_PR / "eos_label_cases.json").read_text(encoding="utf-8") == upstream_cases_json()


def test_upstream_patch_is_the_vendor_patch_for_the_same_code():
    # Both are generated by tools/make_patches.py from one statement of the rule: same hunks, other paths.
    def hunks(path):
        text = path.read_text(encoding="utf-8")
        return [line for line in text[text.index("\n@@") :].splitlines() if not line.startswith("@@")]

    vendor_patch = REPO / "patches" / "transformers-lm-collator-labels-by-position.patch"
    assert hunks(UPSTREAM_PR / "data_collator-keep-eos-labels.patch") == hunks(vendor_patch)
