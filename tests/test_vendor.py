"""``eosfix vendor`` and its patches, on copies of the transformers and trl installed in this env.

Two kinds of test. The command's own behaviour (apply, check, revert, refuse)
runs in-process on small copies holding only the files the command reads. The
patches' effect runs on full copies of the installed packages, imported in
fresh interpreters (``vendor_check.py``) with nothing of eosfix loaded, and is
compared with the stock packages run the same way. Those interpreters start
together once per session: importing transformers and trl is most of the cost.
"""

import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path

import pytest
from helpers import (
    COMPLETION_ONLY_FILE,
    HAS_TORCH,
    IGNORE,
    copy_package,
    expected_completion_labels,
    expected_lm_labels,
    installed,
    json_reports,
    load_cases,
    own_positions,
    small_copy,
    start_without_eosfix,
    vendor_patches,
)
from packaging.specifiers import SpecifierSet

from eosfix.targets import TARGETS, load_target
from eosfix.vendoring import vendor

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TRL_PATCHED = bool(vendor_patches("trl", COMPLETION_ONLY_FILE))  # DataCollatorForCompletionOnlyLM exists
TRANSFORMERS_PATCHED = bool(vendor_patches("transformers"))

needs_transformers_patch = pytest.mark.skipif(
    not TRANSFORMERS_PATCHED,
    reason="this transformers no longer masks labels by value: eosfix vendor has nothing to patch",
)
needs_trl_patch = pytest.mark.skipif(not TRL_PATCHED, reason="trl is absent or has no DataCollatorForCompletionOnlyLM")


def run_vendor(capsys, *argv):
    status = vendor.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


# --- the command --------------------------------------------------------------------------------------


def test_manifest_entries_point_at_patches_with_dep3_headers():
    patches, _ = vendor.load_manifest()
    assert {p.package for p in patches} == {"transformers", "trl"}
    for patch in patches:
        header = patch.path.read_text(encoding="utf-8").split("\ndiff --git ", 1)[0]
        fields = dict(line.split(": ", 1) for line in header.splitlines() if line[:1].isalpha() and ": " in line)
        assert {"Description", "Bug", "Applies-To", "Last-Update"} <= fields.keys(), patch.name
        assert fields["Bug"] == "https://github.com/huggingface/transformers/issues/23530"
        package, versions = fields["Applies-To"].split()[:2]
        assert (package, SpecifierSet(versions)) == (patch.package, patch.versions), patch.name
        assert f"a/{patch.file}" in patch.path.read_text(encoding="utf-8")
    # patches/ at the top of the repository holds the same files as the package data (which, when the
    # tests run against an installed wheel, is a copy in site-packages).
    shipped = {
        path.name: path.read_bytes() for path in vendor.PATCH_DIR.iterdir() if path.suffix in (".patch", ".json")
    }
    in_repo = {
        path.name: path.read_bytes() for path in (REPO / "patches").iterdir() if path.suffix in (".patch", ".json")
    }
    assert shipped == in_repo
    # The tables of the patches in README.md and patches/README.md are written from the manifest.
    sys.path.insert(0, str(REPO / "tools"))
    compat_table = pytest.importorskip("compat_table", reason="tools/ is not beside tests/ (run from a checkout)")
    table = compat_table.patch_table()
    for readme in (REPO / "README.md", REPO / "patches" / "README.md"):
        text = readme.read_text(encoding="utf-8")
        assert compat_table.replace_block(text, table, (compat_table.PATCHES_START, compat_table.PATCHES_END)) == text


def test_the_package_carries_the_rule_cases_the_repository_tests_with():
    # eosfix vendor runs them on a newer release's copy, where no repository is at hand: the wheel ships them, and
    # spec/ in the repository is a link to the same file.
    assert vendor.SPEC.is_file() and vendor.RULE_CHECK.is_file()
    assert vendor.SPEC.read_bytes() == (REPO / "spec" / "label_rule.json").read_bytes()


def test_each_vendor_patch_lies_inside_the_supported_range_of_the_runtime_patch():
    """The two sources of ranges, the manifest (``eosfix vendor``) and the targets' SUPPORTED (the shim), agree.

    A patch's code is patched at run time by the target of the same module; each release the patch is for must
    be one the target was written for.
    """
    targets = {module: load_target(module) for module in TARGETS}
    without_target = set()
    for patch in vendor.load_manifest()[0]:
        target = targets.get(patch.file[: -len(".py")].replace("/", "."))
        if target is None:
            without_target.add(patch.file)
            continue
        supported = SpecifierSet(target.SUPPORTED)
        assert patch.package == target.DISTRIBUTION, patch.name
        assert supported.contains(patch.first, True) and supported.contains(patch.last, True), (
            patch.name,
            str(patch.versions),
            target.SUPPORTED,
        )
    # DataCollatorForCompletionOnlyLM has no target of its own: its super().torch_call reaches transformers' one.
    assert without_target == {COMPLETION_ONLY_FILE}


@needs_transformers_patch
def test_apply_twice_then_revert_restores_the_file_byte_for_byte(tmp_path, capsys):
    copy = small_copy("transformers", tmp_path)
    target = copy / "data/data_collator.py"
    pristine = target.read_bytes()

    status, out = run_vendor(capsys, copy, "--check")
    assert status == 0 and "applies cleanly" in out
    assert target.read_bytes() == pristine

    status, out = run_vendor(capsys, copy)
    assert status == 0 and "transformers-lm-collator-labels-by-position.patch: applied" in out
    patched = target.read_bytes()
    assert patched != pristine

    status, out = run_vendor(capsys, copy)
    assert status == 0 and "already applied" in out and ": applied\n" not in out
    assert target.read_bytes() == patched

    status, out = run_vendor(capsys, copy, "--revert", "--check")
    assert status == 0 and "reverts cleanly" in out
    assert target.read_bytes() == patched

    status, out = run_vendor(capsys, copy, "--revert")
    assert status == 0 and "reverted" in out
    assert target.read_bytes() == pristine

    status, out = run_vendor(capsys, copy, "--revert")
    assert status == 0 and "nothing to revert" in out


@needs_transformers_patch
def test_a_patch_that_no_longer_applies_fails_loudly_and_changes_nothing(tmp_path, capsys):
    copy = small_copy("transformers", tmp_path)
    inside_the_ranges(copy)  # a release the patch was made for, whose code changed (a local edit, say)
    target = copy / "data/data_collator.py"
    # Upstream rewrites numpy_call's label line: the second hunk of the patch loses its context.
    text = target.read_text(encoding="utf-8")
    assert text.count('labels = np.copy(batch["input_ids"])') == 1
    target.write_text(text.replace('labels = np.copy(batch["input_ids"])', 'labels = batch["input_ids"].copy()'))
    modified = target.read_bytes()

    status, out = run_vendor(capsys, copy)
    assert status == vendor.EXIT_CONFLICT
    assert "transformers-lm-collator-labels-by-position.patch: conflict" in out
    assert "hunk #2" in out and "def numpy_call" in out and str(target) in out
    assert "Nothing was changed." in out
    # Not even the hunks or patches that would apply (torch_call, tf_call on 4.x) went in.
    assert target.read_bytes() == modified

    status, out = run_vendor(capsys, copy, "--check")
    assert status == vendor.EXIT_CONFLICT and "hunk #2" in out


def set_version(copy, name, version):
    init = copy / "__init__.py"
    original = init.read_text(encoding="utf-8")
    assert original.count(f'__version__ = "{installed(name)}"') == 1
    init.unlink()  # small_copy may have made it a link to the installed file
    init.write_text(original.replace(f'__version__ = "{installed(name)}"', f'__version__ = "{version}"'))


def inside_the_ranges(copy, name="transformers"):
    """Make ``copy`` claim the newest release the patches were made for, where the installed one is newer."""
    last = max(patch.last for patch in vendor.load_manifest()[0] if patch.package == name)
    if vendor.Version(installed(name)) > last:
        set_version(copy, name, str(last))


def outside_the_ranges(copy, name="transformers"):
    """Make ``copy`` claim a release above every patch's range (the installed one where it already is) and return it.

    eosfix cannot know about a release newer than itself: this is what a project on that release runs into.
    """
    last = max(patch.last for patch in vendor.load_manifest()[0] if patch.package == name)
    version = installed(name)
    if vendor.Version(version) <= last:
        version = f"{last.major}.{last.minor + 1}.0"
        set_version(copy, name, version)
    return version


@needs_transformers_patch
def test_a_newer_release_is_verified_on_the_copy_then_patched(tmp_path, capsys):
    copy = small_copy("transformers", tmp_path)
    version = outside_the_ranges(copy)
    target = copy / "data/data_collator.py"
    pristine = target.read_bytes()
    cases = sum(len(c["return_tensors"]) for c in load_cases() if c["collator"] == "lm") // (1 if HAS_TORCH else 2)

    status, out = run_vendor(capsys, copy, "--check")
    assert status == 0, out
    assert f"transformers {version} is newer than the releases this eosfix was released with" in out
    assert f"the patch applies cleanly and its {cases} rule cases pass on your copy" in out
    assert target.read_bytes() == pristine

    status, out = run_vendor(capsys, copy)
    assert status == 0 and f"the patch applied cleanly and its {cases} rule cases pass on your copy" in out, out
    assert "transformers-lm-collator-labels-by-position.patch: applied" in out
    assert target.read_bytes() != pristine
    # Nothing of the verification is written back into eosfix: the manifest still ends where it did.
    assert max(p.last for p in vendor.load_manifest()[0] if p.package == "transformers") < vendor.Version(version)

    status, out = run_vendor(capsys, copy)
    assert status == 0 and "already applied" in out
    status, out = run_vendor(capsys, copy, "--revert")
    assert status == 0 and "reverted" in out
    assert target.read_bytes() == pristine


@needs_transformers_patch
def test_a_newer_release_whose_code_moved_is_refused_naming_the_hunk(tmp_path, capsys):
    copy = small_copy("transformers", tmp_path)
    outside_the_ranges(copy)
    target = copy / "data/data_collator.py"
    text = target.read_text(encoding="utf-8")
    assert text.count('labels = np.copy(batch["input_ids"])') == 1
    target.write_text(text.replace('labels = np.copy(batch["input_ids"])', 'labels = batch["input_ids"].copy()'))
    modified = target.read_bytes()
    for flags in ((), ("--check",)):
        status, out = run_vendor(capsys, copy, *flags)
        assert status == vendor.EXIT_NO_PATCH, out
        assert "transformers-lm-collator-labels-by-position.patch, the nearest code shape, does not apply" in out
        assert "hunk #2" in out and "def numpy_call" in out and str(target) in out
        assert len(out.strip().splitlines()) == 1
        assert target.read_bytes() == modified


@needs_transformers_patch
def test_a_newer_release_where_the_patch_applies_but_the_rule_fails_is_refused(tmp_path, capsys):
    copy = small_copy("transformers", tmp_path)
    outside_the_ranges(copy)
    target = copy / "data/data_collator.py"
    # Upstream starts masking every EOS label after the line the patch replaces: the patch applies cleanly, and
    # only running the collator shows that the copy still drops EOS labels.
    target.write_text(
        target.read_text(encoding="utf-8")
        + textwrap.dedent(
            """
            _eos_call = DataCollatorForLanguageModeling.__call__


            def _drop_eos(self, *args, **kwargs):
                batch = _eos_call(self, *args, **kwargs)
                if "labels" in batch:
                    batch["labels"][batch["labels"] == self.tokenizer.eos_token_id] = -100
                return batch


            DataCollatorForLanguageModeling.__call__ = _drop_eos
            """
        ),
        encoding="utf-8",
    )
    modified = target.read_bytes()
    status, out = run_vendor(capsys, copy)
    assert status == vendor.EXIT_NO_PATCH, out
    assert "the patched collator fails the label rule's case eos-" in out and "Nothing was changed." in out
    assert len(out.strip().splitlines()) == 1
    assert target.read_bytes() == modified


@needs_transformers_patch
def test_a_newer_release_that_cannot_be_imported_here_needs_the_unverified_flag(tmp_path, capsys):
    # Only the files the command reads: nothing to import transformers from.
    copy = copy_package("transformers", tmp_path, ["__init__.py", "data/data_collator.py"])
    version = outside_the_ranges(copy)
    target = copy / "data/data_collator.py"
    pristine = target.read_bytes()
    status, out = run_vendor(capsys, copy)
    assert status == vendor.EXIT_NO_PATCH
    assert "the patched copy does not import here" in out and vendor.UNVERIFIED_FLAG in out
    assert len(out.strip().splitlines()) == 1 and target.read_bytes() == pristine
    status, out = run_vendor(capsys, copy, vendor.UNVERIFIED_FLAG)
    assert status == 0 and f"transformers {version} is newer" in out and "unverified" in out
    assert target.read_bytes() != pristine


@needs_transformers_patch
def test_a_newer_release_that_no_longer_masks_by_value_has_nothing_to_do(tmp_path, capsys):
    copy = small_copy("transformers", tmp_path)
    outside_the_ranges(copy)
    target = copy / "data/data_collator.py"
    text = target.read_text(encoding="utf-8")
    # Upstream fixed it: every line the patches replace is gone.
    for patch in vendor.load_manifest()[0]:
        if patch.package == "transformers":
            for code in vendor.masking_code(patch):
                text = text.replace(code, "pass  # labels masked by position upstream")
    target.write_text(text, encoding="utf-8")
    fixed = target.read_bytes()
    for flags in ((), ("--check",)):
        status, out = run_vendor(capsys, copy, *flags)
        assert status == 0 and "nothing to do" in out and "no longer masks labels" in out, out
        assert target.read_bytes() == fixed


@needs_trl_patch
def test_a_trl_release_outside_the_ranges_is_verified_with_the_completion_only_cases(tmp_path, capsys):
    # No trl release with DataCollatorForCompletionOnlyLM lies outside every range, so this copy claims one older
    # than them all: the nearest code shape of each patched file is picked the same way, then proved.
    copy = small_copy("trl", tmp_path)
    set_version(copy, "trl", "0.6.0")
    target = copy / "trainer/utils.py"
    pristine = target.read_bytes()
    cases = sum(len(c["return_tensors"]) for c in load_cases() if c["collator"] == "completion")
    status, out = run_vendor(capsys, copy, "--check")
    assert status == 0, out
    assert "trl 0.6.0 is older than the releases this eosfix was released with" in out
    assert f"its {cases} rule cases pass on your copy" in out and target.read_bytes() == pristine
    status, out = run_vendor(capsys, copy)
    assert status == 0 and "trl-completion-only-labels-by-position-0." in out and target.read_bytes() != pristine


@needs_transformers_patch
def test_copy_inside_a_git_work_tree_is_patched(tmp_path, capsys):
    # In a work tree, a plain `git apply` run from the package directory skips the file and exits 0.
    project = tmp_path / "project"
    copy = small_copy("transformers", project / "third_party" / "vendored")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    before = (copy / "data/data_collator.py").read_bytes()
    status, out = run_vendor(capsys, copy)
    assert status == 0, out
    assert (copy / "data/data_collator.py").read_bytes() != before


@needs_transformers_patch
def test_source_tree_with_src_layout(tmp_path, capsys):
    copy = small_copy("transformers", tmp_path / "src")
    status, out = run_vendor(capsys, tmp_path)
    assert status == 0 and f"at {copy.resolve()}" in out and ": applied" in out


def test_a_directory_that_is_not_a_package_is_refused(tmp_path, capsys):
    status, out = run_vendor(capsys, tmp_path)
    assert status == vendor.EXIT_USAGE and "is not a copy of transformers or trl" in out
    status, _ = run_vendor(capsys, tmp_path / "missing")
    assert status == vendor.EXIT_USAGE


@pytest.mark.skipif(installed("trl") is None, reason="trl is not installed in this env")
def test_trl_copy_is_patched_or_has_nothing_to_do(tmp_path, capsys):
    copy = small_copy("trl", tmp_path)
    status, out = run_vendor(capsys, copy)
    # What the manifest lists for this release: the completion-only collator up to 0.19, GKD (0.11 to 1.8) and
    # GOLD (0.25 to 1.8), which mask by pad id.
    expected = {patch.name for patch in vendor_patches("trl")}
    if expected:
        assert status == 0
        assert {line.split(": ")[0].strip() for line in out.splitlines() if line.endswith(": applied")} == expected
    else:
        # trl 1.9.0 and later: fixed upstream, nothing of trl to patch (patches/manifest.json's not_patched).
        assert status == 0
        assert "nothing to do" in out and "fixed GKD and GOLD upstream" in out


@pytest.mark.parametrize(
    "command", [["eosfix", "vendor"], ["eosfix.vendoring.vendor"]], ids=["eosfix vendor", "module"]
)
def test_runs_as_a_command(command):
    proc = subprocess.run([sys.executable, "-m", *command, "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "usage: eosfix vendor" in proc.stdout


# --- the patches' effect, in fresh interpreters ---------------------------------------------------------


def check_in_subprocess(pythonpath, *flags):
    return start_without_eosfix("vendor_check.py", *flags, pythonpath=pythonpath)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Results of vendor_check.py on the stock packages and on patched copies, started together.

    stock: stock transformers and trl. patched_transformers: the patched
    transformers copy. patched_trl: the patched trl copy on stock transformers,
    the case the trl patch exists for. (Stock trl on a patched transformers is
    left out to keep this file fast: importing trl costs seconds per process.)
    """
    if not TRANSFORMERS_PATCHED:
        pytest.skip("this transformers no longer masks labels by value: eosfix vendor has nothing to patch")
    trl_flag = ["--trl"] if TRL_PATCHED else []
    tensorflow = ["--tf"] if find_spec("tensorflow") is not None else []
    root = tmp_path_factory.mktemp("vendored")
    copy = copy_package("transformers", root / "transformers_only")
    assert vendor.main([str(copy)]) == 0
    started = {
        "stock": check_in_subprocess([], "--lm", *tensorflow, *trl_flag),
        "patched_transformers": check_in_subprocess([copy.parent], "--lm", *tensorflow),
    }
    if TRL_PATCHED:
        trl_copy = copy_package("trl", root / "trl_only")
        assert vendor.main([str(trl_copy)]) == 0
        started["patched_trl"] = check_in_subprocess([trl_copy.parent], "--trl")
    results = json_reports(started)
    assert results["patched_transformers"]["transformers"].startswith(str(copy))
    if TRL_PATCHED:
        assert results["patched_trl"]["trl"].startswith(str(trl_copy))
        assert not results["patched_trl"]["transformers"].startswith(str(root))
    return results


def lm_cases(results, pad):
    return {k: v for k, v in results["cases"].items() if k.split("-")[0] in ("pt", "np", "tf") and k.endswith(pad)}


def eos_labels(case):
    """(EOS tokens of the examples, those labelled)."""
    eos = case["eos_token_id"]
    own = [
        (token, label)
        for i, (ids, labels) in enumerate(zip(case["input_ids"], case["labels"]))
        for j, (token, label) in enumerate(zip(ids, labels))
        if j in own_positions(case, i) and token == eos
    ]
    return len(own), sum(label == eos for _, label in own)


def test_stock_transformers_drops_eos_labels_when_pad_is_eos(runs):
    # The bug the patches fix, measured the same way: if this fails, the checks below prove nothing.
    for name, case in lm_cases(runs["stock"], "pad_eos").items():
        real, labelled = eos_labels(case)
        assert real > 0 and labelled == 0, name


def test_patched_transformers_keeps_eos_labels(runs):
    cases = lm_cases(runs["patched_transformers"], "pad_eos")
    kinds = {name.rsplit("-", 1)[0] for name in cases}
    assert {"np-dict-right", "np-dict-left", "np-list-right", "np-list-left"} <= kinds
    if find_spec("torch") is not None:  # the numpy-only envs (Python 3.9/3.10/3.12/3.13) have no torch
        assert {"pt-dict-right", "pt-dict-left", "pt-list-right", "pt-list-left"} <= kinds
    if find_spec("tensorflow") is not None:  # tf_call exists on transformers 4.x only
        assert {"tf-dict-left", "tf-list-left"} <= kinds
    for name, case in cases.items():
        assert case["labels"] == expected_lm_labels(case), name
        real, labelled = eos_labels(case)
        assert labelled == real, name


def test_patched_transformers_equals_stock_when_pad_is_not_eos(runs):
    stock, patched = lm_cases(runs["stock"], "pad_pad"), lm_cases(runs["patched_transformers"], "pad_pad")
    assert stock.keys() == patched.keys() and stock
    for name in stock:
        assert patched[name] == stock[name], name
        assert patched[name]["labels"] == expected_lm_labels(patched[name]), name


@needs_trl_patch
def test_completion_only_collator_keeps_the_response_eos_on_stock_transformers(runs):
    cases = {k: v for k, v in runs["patched_trl"]["cases"].items() if k.endswith("pad_eos")}
    for name, case in cases.items():
        if name.startswith("completion-"):
            assert case["labels"] == expected_completion_labels(case), name
        elif name.startswith("multi_turn-"):
            kept = [
                word
                for i, labels in enumerate(case["labels"])
                for word, j in zip(case["texts"][i].split(), own_positions(case, i))
                if labels[j] != IGNORE
            ]
            assert kept == ["yes", "</s>", "no", "</s>", "yes", "</s>"], name
        elif name.startswith("padding_free-"):
            # One flattened row: each example's response and EOS labelled, everything else masked.
            expected = []
            for text in case["texts"]:
                words = text.split()
                response_at = words.index("Answer:") + 1
                expected += [False] * response_at + [True] * (len(words) - response_at)
            assert [label != IGNORE for label in case["labels"][0]] == expected, name
            assert case["labels"][0][-1] == case["eos_token_id"], name
    stock = runs["stock"]["cases"]
    assert any(eos_labels(stock[name])[1] < eos_labels(case)[1] for name, case in cases.items())


@needs_trl_patch
def test_completion_only_collator_equals_stock_when_pad_is_not_eos(runs):
    stock = {k: v for k, v in runs["stock"]["cases"].items() if not k.startswith(("pt-", "np-", "tf-"))}
    patched = runs["patched_trl"]["cases"]
    pad_not_eos = [name for name in stock if name.endswith("pad_pad")]
    assert pad_not_eos
    for name in pad_not_eos:
        assert patched[name] == stock[name], name
        if name.startswith("completion-"):
            assert patched[name]["labels"] == expected_completion_labels(patched[name]), name
