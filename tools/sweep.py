"""Release sweep: run eosfix against every transformers and trl release in its range, one throwaway env each.

Not part of the default CI run (it installs ~180 envs). For every transformers release from the first its
vendor patches cover (4.30.0) to the newest on the registry, and every trl release in the range of the vendor
patches of ``DataCollatorForCompletionOnlyLM`` (0.7.0 to 0.19.1; trl 0.20.0 removed it), each with the newest
transformers released before it that it accepts, it:

1. makes a venv with ``uv`` (shared uv cache, files hard-linked), ``torch==2.13.0`` from the local wheel
   folder, the release, and the eosfix wheel built from this checkout;
2. runs ``tools/sweep_probe.py`` there: the doctor's live probe (``eosfix doctor --json``'s report), the code
   shape of the collator, and the labels of ``tests/scripts/vendor_check.py``'s cases stock and with the shim;
3. runs ``eosfix vendor`` on the env's installed copy, then ``tests/scripts/vendor_check.py`` in a fresh interpreter
   with eosfix switched off, and compares the labels with the shim's and with the expected labels of
   ``tests/test_vendor.py``.

Results go to ``docs/sweep.csv`` (one row per release, written after each row, so a stopped sweep resumes where it
stopped); a row is redone when eosfix's rule or patches changed since it ran (the ``eosfix`` column fingerprints
them). The summary between ``<!-- sweep:start -->`` and ``<!-- sweep:end -->`` in README.md,
``shim/eosfix/diagnostics/doctor/verified_releases.py`` (read by ``eosfix doctor``'s upstream watch) and every
range marked ``<!-- range:KEY -->...<!-- /range -->`` in README.md and docs/*.md are regenerated from the CSV.

    nice -n 10 python tools/sweep.py                  # everything not done yet, 2 envs at a time
    nice -n 10 python tools/sweep.py --new -j 1       # only releases with no row yet: new upstream releases
    python tools/sweep.py transformers==4.36.2        # one release (redone)
    python tools/sweep.py --summary-only              # regenerate README block, ranges and verified_releases.py

A release newer than the vendor patches' recorded ranges is swept like any other: ``eosfix vendor`` proves the
patch of the nearest code shape on the env's copy (the label rule's cases) before applying it, as it does for
a user on that release.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import csv
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
# eosfix vendor's own reader of the manifest, and its statement of where each collator lives.
sys.path.insert(0, str(REPO / "shim"))
from eosfix.vendoring.vendor import COLLATOR_FILES, load_manifest  # noqa: E402

CSV_PATH = REPO / "docs" / "sweep.csv"
README = REPO / "README.md"
VERIFIED_PY = REPO / "shim" / "eosfix" / "diagnostics" / "doctor" / "verified_releases.py"
START_MARKER, END_MARKER = "<!-- sweep:start -->", "<!-- sweep:end -->"
FIELDS = ("package", "release", "with", "shape", "masks_by_value", "affected", "shim_fixed", "vendor_fixed",
          "seconds", "eosfix", "note")  # fmt: skip
# The collator each package's rows are about, by the file its vendor patches touch in patches/manifest.json.
# The transformers code shapes around the masking line (docs/versions.md).
TRANSFORMERS_SHAPES = (("A", "<4.37"), ("B", "<4.50"), ("C", "<4.53"), ("D", "<4.57"), ("E", "<5.0"),
                       ("F", "<5.19"), ("G", ""))  # fmt: skip
# Extra pins (docs/versions.md). trl 0.9.x imports rich without declaring it; installing it for every trl row
# costs nothing and keeps one recipe. The fallbacks are tried in turn when the first install or probe fails:
# numpy<2 for releases that break on numpy 2, and pyarrow 25.0.1, the newest that imports on numpy 1.x.
TRL_EXTRA = ["rich==15.0.0"]
FALLBACK = ["numpy<2", "pyarrow==25.0.1"]
# trl 0.7.2-0.7.4 pair with transformers 4.34/4.35, whose tokenizers 0.14 caps huggingface_hub below 0.18; today's
# accelerate (pulled in by trl) imports split_torch_state_dict_into_shards, which that hub lacks, and the datasets
# that fits that hub (2.14) uses pyarrow.PyExtensionType, gone in pyarrow 21. The last fallback is the
# accelerate of the time and pyarrow 20.0.0, the newest with PyExtensionType, on numpy 1.x, plus the peft of
# the time: trl 0.7.3 and 0.7.4 annotate SFTTrainer with PeftConfig and raise NameError on import without peft.
OLD_HUB_FALLBACK = ["accelerate==0.24.1", "peft==0.6.2", "numpy<2", "pyarrow==20.0.0"]
_csv_lock = threading.Lock()


def tox_exclude_newer() -> str:
    """tox.ini's UV_EXCLUDE_NEWER: the sweep resolves transitive dependencies as of the same date as the matrix."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO / "tox.ini")
    match = re.search(r"UV_EXCLUDE_NEWER\s*=\s*(\S+)", config["testenv"]["set_env"])
    return match.group(1)


class _WhatCannotChangeALabel(ast.NodeTransformer):
    """Drops docstrings, type annotations, imports, and names that do not say how a label changes.

    ``MODULE`` and ``__all__`` are read by messages and ``import *`` only. ``SUPPORTED`` says which releases were
    tested: outside it the shim still patches a method of the known shape, so moving it over releases the sweep
    found fixed (it records ``shape`` and ``shim_fixed``) changes none of their labels.
    """

    UNREAD = {"MODULE", "__all__", "SUPPORTED"}

    def _body(self, node: ast.AST) -> ast.AST:
        body = getattr(node, "body", [])
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            if isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        return self.generic_visit(node)

    visit_Module = visit_ClassDef = _body

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.returns = None
        return self._body(node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.annotation = None
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def visit_Import(self, node: ast.AST) -> None:
        return None

    visit_ImportFrom = visit_Import

    def visit_Assign(self, node: ast.Assign) -> ast.AST | None:
        names = {target.id for target in node.targets if isinstance(target, ast.Name)}
        return None if names & self.UNREAD else node


def _code(path: Path) -> bytes:
    """What of ``path`` can change a label: a patch as it is; Python code as its AST, less what cannot."""
    if path.suffix != ".py":
        return path.read_bytes()
    tree = _WhatCannotChangeALabel().visit(ast.parse(path.read_text(encoding="utf-8")))
    return ast.dump(tree).encode()


def fingerprint() -> str:
    """Hash of what decides the results: the label rule, the collator's target and the collators' vendor patches.

    Files are found by name anywhere in the package and hashed with their names only, so moving them within
    the package (or editing the manifest's prose) leaves the rows current; changing their code does not. Python
    files are hashed as their syntax tree without docstrings, annotations and imports (see ``_code``), so that
    documenting or typing the rule leaves the rows current too.
    """
    digest = hashlib.sha256()
    shim = REPO / "shim" / "eosfix"
    collator_patches = [path for path in shim.rglob("*.patch") if "collator" in path.name or "completion" in path.name]
    files = [next(shim.rglob("labels.py")), next(shim.rglob("targets/transformers_collator.py")), *collator_patches]
    for path in sorted(files, key=lambda p: p.name):
        digest.update(path.name.encode() + _code(path))
    return digest.hexdigest()[:10]


def pypi_releases(package: str) -> dict[Version, str]:
    """Every final release of ``package`` on PyPI with files, mapped to its first upload time (one request)."""
    with urllib.request.urlopen(f"https://pypi.org/pypi/{package}/json", timeout=60) as response:
        data = json.load(response)
    return {
        Version(version): min(f["upload_time_iso_8601"] for f in files)
        for version, files in data["releases"].items()
        if files and not Version(version).is_prerelease
    }


def collator_patches(package: str) -> list:
    """The vendor patches of ``package``'s collator, from patches/manifest.json."""
    return [patch for patch in load_manifest()[0] if patch.file == COLLATOR_FILES[package]]


def ranges() -> dict[str, tuple[Version, Version]]:
    """(first, last) release of each package's rows: the span of its collator's vendor patches."""
    return {
        package: (min(p.first for p in collator_patches(package)), max(p.last for p in collator_patches(package)))
        for package in COLLATOR_FILES
    }


def shape_of(package: str, version: Version) -> str:
    if package == "transformers":
        for name, specifier in TRANSFORMERS_SHAPES:
            if not specifier or version in SpecifierSet(specifier):
                return name
    # trl: one code shape per patch of DataCollatorForCompletionOnlyLM, named by its first minor release.
    for patch in collator_patches(package):
        if patch.versions.contains(version, prereleases=True):
            return f"{patch.first.major}.{patch.first.minor}"
    raise AssertionError(version)


def plan(transformers_releases, trl_releases):
    """(package, release, paired transformers or None) for every row of the sweep."""
    spans = ranges()
    low = spans["transformers"][0]
    # Every release from the first the patches cover to the newest: the newer ones are what users meet first.
    rows = [("transformers", v, None) for v in sorted(transformers_releases) if low <= v]
    low, high = spans["trl"]
    for version in sorted(v for v in trl_releases if low <= v <= high):
        released = trl_releases[version]
        # The transformers current when this trl came out: the release trl was written and tested against.
        candidates = [
            v for v, when in transformers_releases.items() if when <= released and v <= spans["transformers"][1]
        ]
        rows.append(("trl", version, max(candidates)))
    return rows


def unswept(planned, rows) -> list:
    """The planned rows the CSV has none for: releases newer than its newest row, and older ones it misses."""
    return [item for item in planned if (item[0], str(item[1])) not in rows]


def run(command, env, cwd=None, timeout=900):
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def labels_ok(case, expected):
    return case["labels"] == expected


def judge(package, probe, vendor_status, vendor_out, vendored):
    """(affected, shim_fixed, vendor_fixed, note) from the probe and the vendored run."""
    # The labels a correct collator gives each case: computed in the env by the probe, from the tests' helpers.
    stock, shim, expected = probe["stock"], probe["shim"], probe["expected"]
    problems = []
    if package == "transformers":
        doctor = probe["doctor"]
        affected = bool(doctor["affected"])
        checked = {n: expected[n] for n in shim}
        shim_fixed = bool(doctor["fixed"]) and all(labels_ok(shim[n], checked[n]) for n in shim)
        # With a real pad token the shim changes nothing.
        shim_fixed &= all(shim[n]["labels"] == stock[n]["labels"] for n in shim if n.endswith("pad_pad"))
        if not doctor["fixed"]:
            problems.append("doctor probe not fixed")
    else:
        checked = {n: expected[n] for n in shim if n.startswith("completion-")}
        affected = any(not labels_ok(stock[n], checked[n]) for n in checked if n.endswith("pad_eos"))
        shim_fixed = all(labels_ok(shim[n], checked[n]) for n in checked)
        shim_fixed &= all(shim[n]["labels"] == stock[n]["labels"] for n in shim if n.endswith("pad_pad"))
    bad = sorted(n for n in checked if not labels_ok(shim[n], checked[n]))
    if bad:
        problems.append("shim wrong on " + ", ".join(bad[:3]))
    if vendor_status != 0:
        vendor_fixed = False
        problems.append(f"eosfix vendor exit {vendor_status}: {last_line(vendor_out)}")
    else:
        differ = sorted(n for n in shim if vendored["cases"].get(n, {}).get("labels") != shim[n]["labels"])
        wrong = [n for n in checked if not labels_ok(vendored["cases"].get(n, {"labels": None}), checked[n])]
        vendor_fixed = not differ and not wrong and not vendored["eosfix_loaded"]
        if differ:
            problems.append("vendored labels differ from the shim's on " + ", ".join(differ[:3]))
    return affected, shim_fixed, vendor_fixed, "; ".join(problems)


def sweep_one(package, version, paired, wheel, workdir, exclude_newer):
    start = time.monotonic()
    row = {"package": package, "release": str(version), "with": str(paired or ""), "eosfix": fingerprint()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EOSFIX_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(
        UV_FIND_LINKS=os.environ.get("PIP_FIND_LINKS", "/opt/wheels"),
        UV_EXCLUDE_NEWER=exclude_newer,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        TOKENIZERS_PARALLELISM="false",
    )
    requirements = ["torch==2.13.0", "pytest==9.2.0", "hypothesis==6.170.15", str(wheel)]
    if package == "transformers":
        requirements.append(f"transformers=={version}")
    else:
        # At most the transformers current when this trl came out; uv takes the newest that trl also accepts
        # (trl 0.12.2 caps transformers below 4.47, released before it). The row names the one installed.
        requirements += [f"trl=={version}", f"transformers<={paired}", *TRL_EXTRA]
    venv = Path(tempfile.mkdtemp(prefix=f"{package}-{version}-", dir=workdir))
    python = venv / "bin" / "python"
    try:
        for extra in ([], FALLBACK, OLD_HUB_FALLBACK):
            shutil.rmtree(venv, ignore_errors=True)
            made = run(["uv", "venv", "-q", "--python", "3.11", str(venv)], env)
            if made.returncode != 0:
                row["note"] = f"uv venv failed: {last_line(made.stderr)}"
                break
            installed = run(["uv", "pip", "install", "-q", "--python", str(python), *requirements, *extra], env)
            if installed.returncode != 0:
                row["note"] = f"cannot be installed: {last_line(installed.stderr)}"
                continue
            probed = run([str(python), str(REPO / "tools" / "sweep_probe.py"), package, str(TESTS)], env)
            if probed.returncode != 0:
                row["note"] = f"probe failed: {last_line(probed.stderr)}"
                continue
            row["note"] = ""
            if extra:
                row["note"] = "with " + " ".join(extra) + "; "
            break
        else:
            return row | {"seconds": f"{time.monotonic() - start:.0f}"}
        if row["note"].startswith(("uv venv", "cannot", "probe")):
            return row | {"seconds": f"{time.monotonic() - start:.0f}"}
        probe = json.loads(probed.stdout.strip().splitlines()[-1])
        if package == "trl":
            row["with"] = probe["transformers"]
        # The installed copy, found without importing it (an import of transformers costs seconds).
        installed_copy = next(venv.glob(f"lib/python3.*/site-packages/{package}"))
        vendored_cmd = run([str(python), "-m", "eosfix", "vendor", str(installed_copy)], env)
        check_env = env | {"EOSFIX_DISABLE": "1"}
        flag = "--lm" if package == "transformers" else "--trl"
        checked = run([str(python), str(TESTS / "scripts" / "vendor_check.py"), flag], check_env, cwd=TESTS)
        vendored = json.loads(checked.stdout.strip().splitlines()[-1]) if checked.returncode == 0 else None
        if vendored is None and vendored_cmd.returncode == 0:
            vendored_cmd = subprocess.CompletedProcess(
                [], 1, "", f"vendored check failed: {last_line(checked.stderr)}"
            )
        affected, shim_fixed, vendor_fixed, problems = judge(
            package, probe, vendored_cmd.returncode, vendored_cmd.stdout + vendored_cmd.stderr, vendored
        )
        yes = {True: "yes", False: "no"}
        row.update(
            shape=f"{shape_of(package, version)} {probe['shape']}",
            masks_by_value=yes[bool(probe["masking_lines"])] if package == "transformers" else "",
            affected=yes[affected],
            shim_fixed=yes[shim_fixed],
            vendor_fixed=yes[vendor_fixed],
        )
        row["note"] += problems
        row["note"] = row["note"].strip("; ")
        return row | {"seconds": f"{time.monotonic() - start:.0f}"}
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def read_rows() -> dict[tuple[str, str], dict]:
    if not CSV_PATH.exists():
        return {}
    with CSV_PATH.open(newline="", encoding="utf-8") as handle:
        return {(r["package"], r["release"]): r for r in csv.DictReader(handle)}


def write_rows(rows: dict[tuple[str, str], dict]) -> None:
    ordered = sorted(rows.values(), key=lambda r: (r["package"] != "transformers", Version(r["release"])))
    part = CSV_PATH.with_suffix(".csv.part")
    with part.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(ordered)
    part.replace(CSV_PATH)


def fixed(row) -> bool:
    return row.get("shim_fixed") == "yes" and row.get("vendor_fixed") == "yes" and row.get("affected") == "yes"


def summary(rows: dict, planned=None) -> str:
    """The README block: one line per package, generated from the CSV (and the plan, to name rows not run yet)."""
    lines = []
    missing = [(p, v) for p, v, _ in planned or () if (p, str(v)) not in rows]
    for package, what in (
        ("transformers", "DataCollatorForLanguageModeling"),
        ("trl", "DataCollatorForCompletionOnlyLM"),
    ):
        own = [r for r in rows.values() if r["package"] == package]
        if not own:
            continue
        versions = sorted({Version(r["release"]) for r in own} | {v for p, v, _ in planned or () if p == package})
        done = [r for r in own if r.get("shim_fixed")]
        good = [r for r in done if fixed(r)]
        failed = [r["release"] for r in own if r.get("shim_fixed") and not fixed(r)]
        broken = [r["release"] for r in own if not r.get("shim_fixed")]
        line = (
            f"- {package} `{what}`: every release from {versions[0]} to {versions[-1]} ({len(versions)} releases): "
            f"{len(good)} of {len(done)} run are affected and fixed by both the shim and `eosfix vendor`"
        )
        if failed:
            line += f"; not fixed: {', '.join(failed)}"
        if broken:
            line += f"; {len(broken)} could not be run ({', '.join(broken)}; reasons in `docs/sweep.csv`)"
        not_yet = sorted(v for p, v in missing if p == package)
        if not_yet:
            line += f"; {len(not_yet)} releases of the range not run yet ({not_yet[0]} to {not_yet[-1]})"
        lines.append(line + ".")
    seconds = sum(int(r["seconds"] or 0) for r in rows.values())
    lines.append(f"- {len(rows)} envs, {seconds / 60:.0f} env-minutes in all (1 or 2 at a time on 2 cores).")
    stale = [r for r in rows.values() if r.get("eosfix") != fingerprint()]
    if stale:
        lines.append(
            f"- {len(stale)} of these rows were made with an earlier eosfix (its label rule, targets or patches "
            "changed since, column `eosfix` in `docs/sweep.csv`): `python tools/sweep.py` redoes them."
        )
    return "\n".join(lines)


def newest_verified(rows, package, planned):
    """(first, last) of the longest run of releases from the start of the range that are all fixed.

    A release missing from the CSV (not run yet) or not fixed ends the run: the doctor's upstream watch must not
    call a release verified that sits above a gap. Releases that can no longer be installed do not end it.
    """
    last = None
    for name, version, _ in planned:
        if name != package:
            continue
        row = rows.get((package, str(version)))
        if row is not None and fixed(row):
            last = version
        elif not (row is not None and row.get("note", "").startswith("cannot be installed")):
            break
    return (str(ranges()[package][0]), str(last)) if last else None


# A range in the prose of README.md and docs/*.md, written from the data:
# <!-- range:KEY -->FIRST to LAST<!-- /range -->.
RANGE_MARKER = re.compile(r"(<!-- range:([a-z-]+) -->)(.*?)(<!-- /range -->)")
DOCS = (README, *sorted((REPO / "docs").glob("*.md")))


def range_texts(verified: dict, rows: dict) -> dict[str, str]:
    """The text of each range key: ``transformers`` and ``trl`` the releases the sweep verified (affected, and
    fixed by the shim and ``eosfix vendor``), ``shim`` the swept transformers releases inside the runtime patch's
    SUPPORTED (beyond it the shim patches a method only if it still has the known shape)."""
    texts = {p: f"{span[0]} to {span[1]}" for p, span in verified.items() if span}
    from eosfix.targets import REQUIRED, load_target

    supported = SpecifierSet(load_target(REQUIRED).SUPPORTED)
    inside = sorted(Version(r["release"]) for r in rows.values() if r["package"] == "transformers"
                    and supported.contains(r["release"]))  # fmt: skip
    if inside:
        texts["shim"] = f"{inside[0]} to {inside[-1]}"
    return texts


def write_ranges(texts: dict[str, str]) -> None:
    """Rewrite every ``range:KEY`` marker in README.md and docs/*.md with the text of its key."""
    for path in DOCS:
        old = path.read_text(encoding="utf-8")
        new = RANGE_MARKER.sub(lambda m: m.group(1) + texts.get(m.group(2), m.group(3)) + m.group(4), old)
        if new != old:
            path.write_text(new, encoding="utf-8")


def write_outputs(rows: dict, planned=None) -> None:
    text = README.read_text(encoding="utf-8")
    block = f"{START_MARKER}\n{summary(rows, planned)}\n{END_MARKER}"
    pattern = re.compile(re.escape(START_MARKER) + ".*?" + re.escape(END_MARKER), re.DOTALL)
    if pattern.search(text):
        README.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
    verified = {p: newest_verified(rows, p, planned or ()) for p in COLLATOR_FILES}
    write_ranges(range_texts(verified, rows))
    if verified:
        old = VERIFIED_PY.read_text(encoding="utf-8")
        spans = {p: f'("{v[0]}", "{v[1]}")' if v else "None" for p, v in verified.items()}
        literal = "VERIFIED = {" + ", ".join(f'"{p}": {span}' for p, span in spans.items()) + "}"
        new = re.sub(r"^VERIFIED = .*$", literal, old, flags=re.MULTILINE)
        VERIFIED_PY.write_text(new, encoding="utf-8")


def build_wheel(directory: Path) -> Path:
    subprocess.run(["uv", "build", "-q", "--wheel", "-o", str(directory), str(REPO)], check=True)
    return next(directory.glob("eosfix-*.whl"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", help="package==version rows to (re)do; default: every row not done")
    parser.add_argument("-j", "--jobs", type=int, default=2, choices=(1, 2), help="envs at a time (at most 2)")
    parser.add_argument("--redo", action="store_true", help="redo rows already done with this eosfix")
    parser.add_argument("--summary-only", action="store_true", help="only regenerate the README block")
    parser.add_argument(
        "--new",
        action="store_true",
        help="only the releases the CSV has no row for: those newer than its newest row, and older ones missing",
    )
    args = parser.parse_args(argv)
    rows = read_rows()
    planned = plan(pypi_releases("transformers"), pypi_releases("trl"))
    if args.summary_only:
        write_outputs(rows, planned)
        print(summary(rows, planned))
        return 0
    todo = planned
    if args.only:
        wanted = {tuple(r.split("==")) for r in args.only}
        todo = [t for t in todo if (t[0], str(t[1])) in wanted]
    current = fingerprint()
    if args.new:
        todo = unswept(todo, rows)
        for name in COLLATOR_FILES:
            newest = max((Version(r["release"]) for r in rows.values() if r["package"] == name), default=None)
            found = [str(v) for p, v, _ in todo if p == name]
            print(f"{name}: newest row {newest}; no row yet: {', '.join(found) or 'none'}", flush=True)
    elif not args.redo and not args.only:
        todo = [t for t in todo if rows.get((t[0], str(t[1])), {}).get("eosfix") != current or
                not rows[(t[0], str(t[1]))].get("shim_fixed")]  # fmt: skip
    # Alternate the packages, so a sweep stopped early has covered both.
    by_package = [[t for t in todo if t[0] == name] for name in COLLATOR_FILES]
    todo = [t for pair in itertools.zip_longest(*by_package) for t in pair if t is not None]
    print(f"{len(todo)} rows to run, {args.jobs} at a time", flush=True)
    exclude_newer = tox_exclude_newer()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="eosfix-sweep-") as workdir:
        wheel = build_wheel(Path(workdir))

        def one(item):
            package, version, paired = item
            try:
                row = sweep_one(package, version, paired, wheel, workdir, exclude_newer)
            except Exception as exc:  # noqa: BLE001  (one broken row must not stop the sweep; it is recorded)
                row = {"package": package, "release": str(version), "with": str(paired or ""), "seconds": "0",
                       "eosfix": current, "note": f"sweep error: {type(exc).__name__}: {exc}"[:200]}  # fmt: skip
            with _csv_lock:
                rows[(package, str(version))] = row
                write_rows(rows)
            print(" ".join(f"{k}={row.get(k, '')}" for k in FIELDS if k != "eosfix"), flush=True)

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(one, todo))
    write_outputs(rows, planned)
    print(f"sweep done in {time.monotonic() - started:.0f} s wall")
    print(summary(rows, planned))
    return 0 if all(fixed(r) for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
