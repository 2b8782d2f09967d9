"""Every range of releases that README.md and docs/*.md state comes from the data, never typed by hand.

The data: ``docs/sweep.csv`` (the release sweep), ``eosfix/diagnostics/doctor/verified_releases.py`` generated from
it, and the vendor patches' manifest. ``tools/sweep.py`` writes each ``<!-- range:KEY -->...<!-- /range -->``
marker; a range of the collators' span typed outside a marker or a generated block must agree with the data, so
that a document cannot go on saying "4.30 to 5.23" after the sweep has verified a newer release.
"""

import csv
import re
import sys
from pathlib import Path

import pytest

from eosfix.diagnostics.doctor.verified_releases import VERIFIED
from eosfix.vendoring import vendor

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sweep = pytest.importorskip("sweep", reason="tools/ is not beside tests/ (run from a checkout)")

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
GENERATED_BLOCK = re.compile(r"<!-- ([a-z-]+):start -->.*?<!-- \1:end -->", re.DOTALL)
# The collators' spans as prose types them: "4.30 to 5.23", "4.30.0 – 5.23.0", "0.7-0.19.1".
TYPED_RANGES = {
    "transformers": re.compile(r"\b(4\.30(?:\.\d+)?)\s*(?:to|–|-)\s*(5\.\d+(?:\.\d+)?)\b"),
    "trl": re.compile(r"\b(0\.7(?:\.\d+)?)\s*(?:to|–|-)\s*(0\.19(?:\.\d+)?)\b"),
}


def rows():
    with (REPO / "docs" / "sweep.csv").open(newline="", encoding="utf-8") as handle:
        return {(r["package"], r["release"]): r for r in csv.DictReader(handle)}


def same_release(typed, full):
    """``typed`` names ``full`` ("5.25" names 5.25.0; "5.2" does not)."""
    typed_parts, full_parts = typed.split("."), full.split(".")
    return full_parts[: len(typed_parts)] == typed_parts and all(p == "0" for p in full_parts[len(typed_parts) :])


def disagreements(text, verified, manifest):
    """The typed ranges of ``text`` (outside markers and generated blocks) that the data does not state."""
    text = GENERATED_BLOCK.sub("", sweep.RANGE_MARKER.sub("", text))
    found = []
    for line in text.splitlines():
        for package, pattern in TYPED_RANGES.items():
            for match in pattern.finditer(line):
                first, last = match.groups()
                # A line naming a vendor patch states that patch's recorded range (patches/manifest.json).
                spans = manifest[package] if ".patch" in line else [verified[package]]
                if not any(same_release(first, a) and same_release(last, b) for a, b in spans):
                    found.append(f"{match.group(0)!r} in: {line.strip()[:120]}")
    return found


def manifest_spans():
    spans = {"transformers": [], "trl": []}
    for patch in vendor.load_manifest()[0]:
        spans[patch.package].append((str(patch.first), str(patch.last)))
    return spans


def test_verified_ranges_are_those_of_the_sweep_csv():
    table = rows()
    for package, (first, last) in VERIFIED.items():
        own = sorted((r for (p, _), r in table.items() if p == package), key=lambda r: vendor.Version(r["release"]))
        assert own[0]["release"] == first
        inside = [r for r in own if vendor.Version(r["release"]) <= vendor.Version(last)]
        assert all(sweep.fixed(r) or r["note"].startswith("cannot be installed") for r in inside), package
        # The range ends at the newest row, or at the last row before one that is not fixed.
        after = [r for r in own if vendor.Version(r["release"]) > vendor.Version(last)]
        assert not after or not sweep.fixed(after[0]), (package, last, after[0]["release"])


def test_every_range_marker_holds_the_data():
    texts = sweep.range_texts(VERIFIED, rows())
    seen = set()
    for path in DOCS:
        for match in sweep.RANGE_MARKER.finditer(path.read_text(encoding="utf-8")):
            key, content = match.group(2), match.group(3)
            assert content == texts[key], f"{path.name}: range:{key} says {content}, the data {texts[key]}"
            seen.add(key)
    assert {"transformers", "trl", "shim"} <= seen


def test_no_document_types_a_range_the_data_does_not_state():
    manifest = manifest_spans()
    for path in DOCS:
        assert disagreements(path.read_text(encoding="utf-8"), VERIFIED, manifest) == [], path.name


def test_a_stale_typed_range_is_caught():
    verified = {"transformers": ("4.30.0", "5.25.0"), "trl": ("0.7.0", "0.19.1")}
    manifest = {"transformers": [("4.30.0", "5.23.0")], "trl": []}
    stale = "It is in every release from 4.30 to 5.23, and the trl collator in 0.7 to 0.19.1.\n"
    assert len(disagreements(stale, verified, manifest)) == 1
    assert disagreements("every release from 4.30 to 5.25", verified, manifest) == []
    assert disagreements("`x.patch` covers 4.30.0 – 5.23.0", verified, manifest) == []
    assert len(disagreements("from 4.30 to 5.2", verified, manifest)) == 1
    marked = "from <!-- range:transformers -->4.30.0 to 5.23.0<!-- /range -->"
    assert disagreements(marked, verified, manifest) == []  # markers are checked against the data apart
