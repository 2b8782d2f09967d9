"""``eosfix vendor``: carry the fix inside a vendored copy of transformers or TRL.

The rest of eosfix fixes the collator at run time. A project that vendors
transformers or TRL (a copied package directory, or a source tree with
``src/transformers``) can instead put the fix into the copy itself::

    eosfix vendor PATH             apply the patches for the copy's version
    eosfix vendor PATH --check     say what applying would do; change nothing
    eosfix vendor PATH --revert    take the patches out again (with --check: say what it would do)

The copy's package and version are read from its files (``__version__`` in
its ``__init__.py``), and the patches for that version are picked from
``patches/manifest.json``. They are applied with ``git apply``, which needs no
git repository and refuses any hunk whose context does not match exactly.
Every patch is checked before anything is written, and the patches of one run
go in all together or not at all. A patch whose reverse applies is already
applied and is left alone, so running the command twice is harmless.

A release outside every patch's recorded range (one newer than this eosfix,
typically) is proved before anything is written: for each patched code path
the patch of the nearest code shape must apply without fuzz, and the label
rule's cases (``eosfix/spec/label_rule.json``) must pass on the patched
collator of a scratch view of the copy, imported in a fresh interpreter with
eosfix switched off (``rule_check.py``). A copy whose code no longer masks
labels by the pad id's value has nothing to fix. What was verified is printed,
never written back into eosfix.

Exit status: 0 when everything is (or, with ``--check``, would be) applied or
reverted, or there is nothing to fix, 1 when a patch conflicts with a copy of
a release in its range, 2 when PATH is not a copy of transformers or TRL or
git is missing, 3 when no patch exists for the copy's version or one outside
the ranges cannot be verified, 130 when interrupted (Ctrl-C; the copy is put
back as it was).

This module imports only the standard library and ``packaging``: it must run
where neither torch nor transformers can be imported.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

PATCH_DIR = Path(__file__).resolve().with_name("patches")
# The label rule's cases, shipped in the package (spec/ in the repository links to it).
SPEC = Path(__file__).resolve().parent.parent / "spec" / "label_rule.json"
RULE_CHECK = Path(__file__).resolve().with_name("rule_check.py")
# The flag that accepts a patch on a release outside its range without the rule's cases.
UNVERIFIED_FLAG = "--unverified"

EXIT_OK = 0
EXIT_CONFLICT = 1
EXIT_USAGE = 2
EXIT_NO_PATCH = 3

# Where each package keeps the collator with the bug, from the directory that holds the package: the one
# statement of it, read by the vendor, the doctor's release watch, the release sweep and tools/make_patches.py.
COLLATOR_FILES = {"transformers": "transformers/data/data_collator.py", "trl": "trl/trainer/utils.py"}

# A file only that package has, relative to its directory: the package is told
# by its contents, so a copy vendored under another directory name is found too.
PACKAGE_MARKERS = {
    "transformers": COLLATOR_FILES["transformers"].split("/", 1)[1],
    "trl": "trainer/sft_trainer.py",
}

# Variables that would point git at some other repository than the copy.
_GIT_LOCATION_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_NAMESPACE",
)


class VendorError(Exception):
    """A problem with what the command was given, reported with its exit status."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class VendoredPackage:
    name: str
    directory: Path
    version: Version


@dataclass(frozen=True)
class Patch:
    package: str
    versions: SpecifierSet
    file: str
    path: Path
    strip: int
    code: str = ""

    @property
    def name(self):
        return self.path.name

    @property
    def first(self):
        """The first release the patch is for: the ``>=`` bound of ``versions``."""
        return _bound(self.versions, ">=")

    @property
    def last(self):
        """The last release the patch is for: the ``<=`` bound of ``versions``."""
        return _bound(self.versions, "<=")


def _bound(versions, operator):
    # Every range in the manifest reads ">=FIRST,<=LAST": the releases each patch was checked on, end to end.
    bounds = [Version(spec.version) for spec in versions if spec.operator == operator]
    if len(bounds) != 1:
        raise ValueError(f"patches/manifest.json: a patch's versions must read '>=FIRST,<=LAST', not '{versions}'")
    return bounds[0]


def load_manifest(patch_dir=PATCH_DIR):
    """Return ``(patches, not_patched)`` from ``manifest.json`` in ``patch_dir``."""
    manifest = json.loads((patch_dir / "manifest.json").read_text(encoding="utf-8"))
    patches = [
        Patch(
            package=entry["package"],
            versions=SpecifierSet(entry["versions"]),
            file=entry["file"],
            path=patch_dir / entry["patch"],
            strip=int(entry["strip"]),
            code=entry.get("code", ""),
        )
        for entry in manifest["patches"]
    ]
    return patches, manifest.get("not_patched", [])


def read_version(directory, name):
    """The version of the package in ``directory``: its ``__version__`` literal, else a ``.dist-info`` beside it.

    trl >= 0.20 reads ``__version__`` from installed metadata at import time, so
    a copy made with ``pip install --target`` carries it only in the
    ``<name>-<version>.dist-info`` directory next to the package.
    """
    init = directory / "__init__.py"
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", init.read_text(encoding="utf-8"), re.MULTILINE)
    if match is not None:
        text, source = match.group(1), init
    else:
        dist_infos = sorted(directory.parent.glob(f"{name}-*.dist-info"))
        if len(dist_infos) != 1:
            raise VendorError(
                f"cannot tell which version of {name} is in {directory}: {init} has no __version__ literal and "
                f"there is no single {name}-<version>.dist-info beside it.",
                EXIT_USAGE,
            )
        source = dist_infos[0]
        text = source.name[len(name) + 1 : -len(".dist-info")]
    try:
        return Version(text)
    except InvalidVersion:
        raise VendorError(f"{source}: {text!r} is not a PEP 440 version.", EXIT_USAGE) from None


def find_package(path):
    """The vendored package at ``path``: the package directory itself, or a tree with ``src/<name>`` or ``<name>``."""
    path = Path(path)
    if not path.is_dir():
        raise VendorError(f"{path} is not a directory.", EXIT_USAGE)
    candidates = [path] + [path / "src" / name for name in PACKAGE_MARKERS] + [path / name for name in PACKAGE_MARKERS]
    found = [
        (name, directory)
        for directory in candidates
        for name, marker in PACKAGE_MARKERS.items()
        if (directory / "__init__.py").is_file() and (directory / marker).is_file()
    ]
    if not found:
        raise VendorError(
            f"{path} is not a copy of transformers or trl: expected a package directory with __init__.py and "
            "data/data_collator.py (transformers) or trainer/sft_trainer.py (trl), or a tree holding one under "
            "src/ or at its top.",
            EXIT_USAGE,
        )
    if len(found) > 1:
        listed = ", ".join(str(directory) for _, directory in found)
        raise VendorError(f"{path} holds more than one package ({listed}): name one of them.", EXIT_USAGE)
    name, directory = found[0]
    directory = directory.resolve()
    return VendoredPackage(name, directory, read_version(directory, name))


def patches_for(package, patches, not_patched):
    """The patches that fit ``package``'s version, or a :class:`VendorError` naming the nearest supported one."""
    chosen = [p for p in patches if p.package == package.name and p.versions.contains(package.version, True)]
    if chosen:
        return chosen
    bounds = sorted({bound for p in patches if p.package == package.name for bound in (p.first, p.last)})
    # Above the ranges (or in a gap between two): the highest bound below the version; below them all: the lowest.
    below = [bound for bound in bounds if bound <= package.version]
    nearest = below[-1] if below else bounds[0]
    message = (
        f"no patch for {package.name} {package.version}: the patches cover {package.name} {bounds[0]} to "
        f"{bounds[-1]}; nearest supported version: {nearest}."
    )
    for entry in not_patched:
        if entry["package"] == package.name and SpecifierSet(entry["versions"]).contains(package.version, True):
            message += f" {entry['reason']}"
    raise VendorError(message, EXIT_NO_PATCH)


# --- releases outside every patch's recorded range: the nearest code shape, proved on the copy ---------------

# DataCollatorForCompletionOnlyLM inherits the masking from transformers: its patch holds no masking line, and
# the code path is there as long as the class is.
_PRESENCE = {COLLATOR_FILES["trl"]: "class DataCollatorForCompletionOnlyLM"}
# The collator of each package that the label rule's cases run (collator column of spec/label_rule.json).
_RULE_COLLATOR = {"transformers": ("lm", COLLATOR_FILES["transformers"]), "trl": ("completion", COLLATOR_FILES["trl"])}


@dataclass(frozen=True)
class Selection:
    """The patches for a copy, and what eosfix knows about them."""

    patches: list
    outside: bool = False  # the release lies outside every recorded range: prove the patches before writing
    unfixed: tuple = ()  # the nearest patch of each code path the copy no longer masks by value (not needed)
    reason: str = ""  # why there is nothing to patch (patches/manifest.json's not_patched), if so


def family(patch: Patch) -> str:
    """The code path a patch fixes: its file name without the first minor release of its code shape."""
    return re.sub(r"-\d+\.\d+$", "", patch.path.stem)


def masking_code(patch: Patch) -> list:
    """The lines of the patch's code path that mask labels by value: where the copy still has one, it needs a fix."""
    body = patch.path.read_text(encoding="utf-8").split("\ndiff --git ", 1)[-1].splitlines()
    removed = [line[1:].strip() for line in body if line.startswith("-") and not line.startswith("---")]
    if removed:
        return removed
    masks = [line[1:].strip() for line in body if line.startswith(" ") and "pad_token_id" in line and "-100" in line]
    return masks or [_PRESENCE[patch.file]]


def still_masks(patch: Patch, package: VendoredPackage) -> bool:
    """Whether the copy's file still holds the code that ``patch`` replaces or follows."""
    target = package.directory / Path(patch.file).relative_to(package.name)
    if not target.is_file():
        return False
    lines = {line.strip() for line in target.read_text(encoding="utf-8").splitlines()}
    return any(code in lines for code in masking_code(patch))


def _nearest_first(members, version):
    above = sorted((p for p in members if p.last < version), key=lambda p: p.last, reverse=True)
    below = sorted((p for p in members if p.first > version), key=lambda p: p.first)
    return above + below


def select(package: VendoredPackage, patches: list, not_patched: list) -> Selection:
    """The patches for ``package``: those whose range holds its version, else the nearest code shape's that fit.

    Outside every range, each code path (patch family) gets the nearest of its patches that applies, or is
    already applied, without fuzz; a code path that no longer masks by value needs nothing. A code path that
    still masks but that no patch fits is a :class:`VendorError` (exit 3) naming the file and hunk.
    """
    own = [p for p in patches if p.package == package.name]
    if any(p.versions.contains(package.version, True) for p in own):
        return Selection(patches_for(package, patches, not_patched))
    for entry in not_patched:
        if entry["package"] == package.name and SpecifierSet(entry["versions"]).contains(package.version, True):
            return Selection([], outside=True, reason=entry["reason"])
    families: dict = {}
    for patch in own:
        families.setdefault(family(patch), []).append(patch)
    chosen, unfixed = [], []
    for members in families.values():
        ordered = _nearest_first(members, package.version)
        states = []
        for patch in ordered:
            states.append(patch_state(patch, package, revert=False))
            if states[-1][0] != "conflict":
                chosen.append(patch)
                break
        else:
            if not any(still_masks(patch, package) for patch in members):
                unfixed.append(ordered[0].name)
                continue
            nearest, output = ordered[0], states[0][1]
            where = "; ".join(describe_failure(nearest, output, package))
            raise VendorError(
                f"{package.name} {package.version} is outside the releases this eosfix's patches were made for, "
                f"and {nearest.name}, the nearest code shape, does not apply: {where}. Nothing was changed.",
                EXIT_NO_PATCH,
            )
    return Selection(chosen, outside=True, unfixed=tuple(unfixed))


def link_tree(source: Path, target: Path, files: set) -> None:
    """``target`` mirrors ``source``: the directories and files on the way to ``files`` are real, the rest links."""
    target.mkdir()
    heads = {file.parts[0] for file in files}
    for entry in source.iterdir():
        destination = target / entry.name
        if entry.name in heads and entry.is_dir():
            link_tree(entry, destination, {Path(*f.parts[1:]) for f in files if f.parts[0] == entry.name})
        elif entry.name in heads:
            shutil.copy2(entry, destination)
        elif entry.name != "__pycache__":  # bytecode of a file copied here would be stale
            try:
                destination.symlink_to(entry, target_is_directory=entry.is_dir())
            except OSError:  # no symbolic links here (Windows without the privilege): a real copy
                (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, destination)


def verify(package: VendoredPackage, patches: list) -> int:
    """Apply ``patches`` to a scratch view of the copy and run the rule's cases there; return how many passed.

    The copy itself is not touched. Raises :class:`VendorError` (exit 3) naming the failed check.
    """
    kind, collator_file = _RULE_COLLATOR[package.name]
    names = ", ".join(p.name for p in patches)
    if not any(p.file == collator_file for p in patches):
        raise VendorError(
            f"cannot verify {names} on {package.name} {package.version}: no case of the label rule covers what it "
            f"patches. To apply it unverified: eosfix vendor {package.directory} {UNVERIFIED_FLAG}",
            EXIT_NO_PATCH,
        )
    import tempfile

    with tempfile.TemporaryDirectory(prefix="eosfix-vendor-") as scratch:
        view = _patched_view(package, patches, Path(scratch))
        report = _rule_results(package, view, kind, names)
    return _count_passed(report["results"], package, names)


def _patched_view(package: VendoredPackage, patches: list, scratch: Path) -> VendoredPackage:
    """A view of the copy in ``scratch`` (links, the patched files copied) with ``patches`` applied."""
    files = {Path(p.file).relative_to(package.name) for p in patches}
    view = VendoredPackage(package.name, scratch / package.name, package.version)
    link_tree(package.directory, view.directory, files)
    for dist_info in package.directory.parent.glob(f"{package.name}-*.dist-info"):
        (scratch / dist_info.name).symlink_to(dist_info, target_is_directory=True)
    for patch in patches:
        applied, output = git_apply(patch, view)
        if not applied:
            where = "; ".join(describe_failure(patch, output, package))
            raise VendorError(
                f"{patch.name} does not apply to {package.name} {package.version}: {where}.", EXIT_NO_PATCH
            )
    return view


def _rule_results(package: VendoredPackage, view: VendoredPackage, kind: str, names: str) -> dict:
    """The rule check's report, run in a fresh interpreter that imports the patched view, eosfix switched off."""
    scratch = view.directory.parent
    env = {key: value for key, value in os.environ.items() if not key.startswith("EOSFIX_")}
    env.update(
        EOSFIX_DISABLE="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(scratch), os.environ.get("PYTHONPATH")])),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    command = [sys.executable, str(RULE_CHECK), str(SPEC), kind]
    try:
        proc = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        proc = subprocess.CompletedProcess(command, 1, "", "the check did not finish within 15 minutes")
    lines = proc.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
    imported = report and report[package.name] or ""
    # The package's __init__.py is a link into the copy; the directory holding it must be the view's.
    if report is None or Path(os.path.realpath(os.path.dirname(imported))) != view.directory.resolve():
        why = _last_line(proc.stderr) or f"it imported {imported}, not the copy"
        raise VendorError(
            f"cannot verify {names} on {package.name} {package.version}: the patched copy does not import "
            f"here ({why}). To apply it unverified: eosfix vendor {package.directory} {UNVERIFIED_FLAG}",
            EXIT_NO_PATCH,
        )
    return report


def _count_passed(results: dict, package: VendoredPackage, names: str) -> int:
    """How many of the rule's cases the patched collator passed; raises on the first that failed, or on none run."""
    cases = {case["id"]: case for case in json.loads(SPEC.read_text(encoding="utf-8"))["cases"]}
    passed = 0
    for key, labels in results.items():
        if labels is None:  # a pt case where torch is absent
            continue
        case = cases[key.split("/")[0]]
        wanted = case.get("carriers", {}).get("vendor", {}).get("labels", case["labels"])
        if labels != wanted:
            raise VendorError(
                f"{names} applies to {package.name} {package.version}, but the patched collator fails the label "
                f"rule's case {key} (spec/label_rule.json): labels {labels}, the rule gives {wanted}. "
                "Nothing was changed.",
                EXIT_NO_PATCH,
            )
        passed += 1
    if not passed:
        raise VendorError(
            f"cannot verify {names} on {package.name} {package.version}: none of the label rule's cases can run "
            f"here (torch missing?). To apply it unverified: eosfix vendor {package.directory} {UNVERIFIED_FLAG}",
            EXIT_NO_PATCH,
        )
    return passed


def _last_line(text):
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def git_apply(patch, package, *options):
    """Run ``git apply`` for ``patch`` inside ``package``'s directory; return ``(succeeded, git's output)``."""
    git = shutil.which("git")
    if git is None:
        raise VendorError("git is needed to apply the patches and was not found on PATH.", EXIT_USAGE)
    env = {key: value for key, value in os.environ.items() if key not in _GIT_LOCATION_VARIABLES}
    # Inside a git work tree, `git apply` takes the patch's paths from the top of
    # the tree and silently skips those outside the current directory (exit 0).
    # A vendored copy usually lives in its project's repository, so stop the
    # search for a repository at the package directory.
    env["GIT_CEILING_DIRECTORIES"] = str(package.directory.parent)
    # The messages read below ("Skipped patch", "patch failed: FILE:LINE") are translated in other locales.
    env["LC_ALL"] = "C"
    command = [git, "apply", "--verbose", f"-p{patch.strip}", *options, str(patch.path)]
    result = subprocess.run(command, check=False, cwd=package.directory, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    return result.returncode == 0 and "Skipped patch" not in output, output


def _hunks(patch_path):
    """``(number, old start, new start, header)`` of each hunk in the patch file."""
    hunks: list = []
    for line in patch_path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@.*", line)
        if match:
            hunks.append((len(hunks) + 1, int(match.group(1)), int(match.group(2)), match.group(0)))
    return hunks


def describe_failure(patch, output, package):
    """Name the hunks and files that git could not place, from git's own messages."""
    lines = []
    hunks = _hunks(patch.path)
    # git names a failed hunk by its start line in the patch, not by a line of the copy.
    for file, line in re.findall(r"^error: patch failed: (.+):(\d+)$", output, re.MULTILINE):
        named = [f"hunk #{number} ({header})" for number, old, new, header in hunks if int(line) in (old, new)]
        lines.append(f"{named[0] if named else 'a hunk'} has no exact match in {package.directory / file}")
    skip = ("error: patch failed:", "error: while searching for:")
    lines += [
        text.strip()
        for text in output.splitlines()
        if text.startswith("error:") and not text.startswith(skip) and "patch does not apply" not in text
    ]
    if "Skipped patch" in output:
        lines.append("git skipped the patch's file (is the package directory inside another git work tree?)")
    return lines or [output.strip() or "git apply failed without a message"]


def patch_state(patch, package, revert):
    """Where ``patch`` stands on the copy, for the direction asked.

    ``("pending", "")`` when the run would change the copy, ``("done", "")``
    when there is nothing to do (already applied; with ``revert``, not
    applied), ``("conflict", git's output)`` when the patch fits neither way.
    """
    target = package.directory / Path(patch.file).relative_to(package.name)
    if not target.is_file():
        return "conflict", f"error: {target} does not exist"
    wanted, opposite = ["--check"], ["--check", "--reverse"]
    if revert:
        wanted, opposite = opposite, wanted
    fits, output = git_apply(patch, package, *wanted)
    if fits:
        return "pending", ""
    if git_apply(patch, package, *opposite)[0]:
        return "done", ""
    return "conflict", output


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


def _apply_all(patches, package, revert):
    """Apply (or revert) every patch, or, if one fails, undo the others; return git's output of the failure.

    On Ctrl-C the patches already applied (and the one git was applying, if
    it went in) are taken out again before the interrupt ends the command.
    """
    direction = ["--reverse"] if revert else []
    undo = [] if revert else ["--reverse"]
    done: list = []
    current = None
    try:
        for current in patches:
            succeeded, output = git_apply(current, package, *direction)
            if not succeeded:
                for earlier in reversed(done):
                    git_apply(earlier, package, *undo)
                return current, output
            done.append(current)
    except KeyboardInterrupt:
        _undo_after_interrupt([*done, current] if current not in done else done, package, undo)
    return None, ""


def _undo_after_interrupt(patches, package, undo):
    import signal

    # A second Ctrl-C must not stop the clean-up halfway; git inherits the ignored signal.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        left = []
        for patch in reversed([p for p in patches if p is not None]):
            # Only what went in comes out: the interrupted git apply may not have written anything.
            if git_apply(patch, package, *undo, "--check")[0] and not git_apply(patch, package, *undo)[0]:
                left.append(patch.name)
    finally:
        signal.signal(signal.SIGINT, previous)
    if left:
        raise VendorError(
            f"interrupted, and {', '.join(left)} could not be taken out again; run `eosfix vendor "
            f"{package.directory} --check` to see where the copy stands.",
            EXIT_INTERRUPTED,
        )
    raise VendorError("interrupted; the copy is as it was before.", EXIT_INTERRUPTED)


_WORDS = {
    # (revert, check, state): what to say about one patch
    (False, True, "pending"): "applies cleanly (not applied yet)",
    (False, False, "pending"): "applied",
    (False, True, "done"): "already applied",
    (False, False, "done"): "already applied",
    (True, True, "pending"): "applied; reverts cleanly",
    (True, False, "pending"): "reverted",
    (True, True, "done"): "not applied, nothing to revert",
    (True, False, "done"): "not applied, nothing to revert",
}


def _report_failure(patch, headline, output, package):
    print(f"  {patch.name}: {headline}:", file=sys.stderr)
    for line in describe_failure(patch, output, package):
        print(f"    {line}", file=sys.stderr)


def vendor(package, patches, revert=False, check=False):
    """Check, then apply or revert ``patches`` on ``package``; print a report and return the exit status."""
    out, err = sys.stdout, sys.stderr
    print(f"{package.name} {package.version} at {package.directory}", file=out)
    states = [(patch, *patch_state(patch, package, revert)) for patch in patches]
    conflicts = [(patch, output) for patch, state, output in states if state == "conflict"]
    if conflicts:
        action = "revert" if revert else "apply"
        for patch, output in conflicts:
            _report_failure(patch, f"conflict, does not {action}", output, package)
        print("Nothing was changed.", file=err)
        return EXIT_CONFLICT
    pending = [patch for patch, state, _ in states if state == "pending"]
    if not check and pending:
        failed, output = _apply_all(list(reversed(pending)) if revert else pending, package, revert)
        if failed is not None:
            _report_failure(failed, "git apply failed after a clean check", output, package)
            print("Nothing was changed.", file=err)
            return EXIT_CONFLICT
    for patch, state, _ in states:
        print(f"  {patch.name}: {_WORDS[revert, check, state]}", file=out)
    return EXIT_OK


def build_parser():
    parser = argparse.ArgumentParser(
        prog="eosfix vendor",
        description="Apply eosfix's patches to a vendored copy of transformers or trl, so that EOS labels survive "
        "when pad_token == eos_token without eosfix being imported.",
        epilog="Exit status: 0 done (or already done; with --check: would succeed), 1 a patch conflicts with the "
        "copy, 2 PATH is not a copy of transformers or trl (or git is missing), 3 no patch for that version or, "
        "on a release outside the patches' ranges, the nearest patch did not apply or pass the label rule's cases on "
        "the copy, 130 interrupted (the copy is put back as it was).",
    )
    parser.add_argument(
        "path",
        metavar="PATH",
        type=Path,
        help="the vendored package (a copy of transformers/ or trl/), or a source tree with src/transformers",
    )
    parser.add_argument("--check", action="store_true", help="report what would be done; change nothing")
    parser.add_argument("--revert", action="store_true", help="take the patches out instead of putting them in")
    parser.add_argument(
        UNVERIFIED_FLAG,
        action="store_true",
        help="on a release outside the patches' ranges whose copy cannot be imported here, apply the patch of the "
        "nearest code shape without running the label rule's cases on it (it must still apply without fuzz)",
    )
    return parser


def outside_range(package: VendoredPackage, selection: Selection, revert: bool, check: bool, unverified: bool) -> int:
    """Vendor a copy of a release outside every patch's recorded range; print what was proved. Exit status."""
    if not selection.patches:
        why = selection.reason or (
            "its code no longer masks labels by the pad id's value (" + ", ".join(selection.unfixed) + " not needed)"
        )
        print(f"{package.name} {package.version} at {package.directory}: nothing to do: {why}")
        return EXIT_OK
    passed = None
    if not revert and not unverified:
        pending = [p for p in selection.patches if patch_state(p, package, revert=False)[0] == "pending"]
        if pending:
            try:
                passed = verify(package, pending)
            except KeyboardInterrupt:
                raise VendorError("interrupted; the copy is as it was before.", EXIT_INTERRUPTED) from None
    status = vendor(package, selection.patches, revert=revert, check=check)
    for name in selection.unfixed:
        print(f"  {name}: not needed, the code it patches no longer masks labels by value")
    if status == EXIT_OK and not revert:
        newer = "newer" if package.version > max(p.last for p in selection.patches) else "older"
        head = f"{package.name} {package.version} is {newer} than the releases this eosfix was released with"
        verb = "applies" if check else "applied"
        if passed is not None:
            print(f"{head}; the patch {verb} cleanly and its {passed} rule cases pass on your copy.")
        elif unverified:
            print(f"{head}; the patch of the nearest code shape {verb} cleanly, unverified ({UNVERIFIED_FLAG}).")
    return status


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:  # --help, or a usage error argparse has already printed
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    try:
        package = find_package(args.path)
        selection = select(package, *load_manifest())
        if selection.outside:
            return outside_range(package, selection, args.revert, args.check, args.unverified)
        return vendor(package, selection.patches, revert=args.revert, check=args.check)
    except VendorError as error:
        print(f"eosfix vendor: {error}", file=sys.stderr)
        return error.status


if __name__ == "__main__":
    from eosfix._cli import run as _run_command

    sys.exit(_run_command("vendor", main, sys.argv[1:]))
