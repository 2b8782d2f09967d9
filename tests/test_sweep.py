"""The release sweep's plan (``tools/sweep.py``): which releases it runs, and which ``--new`` picks up."""

import sys
from pathlib import Path

import pytest
from packaging.version import Version

from eosfix.vendoring import vendor

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sweep = pytest.importorskip("sweep", reason="tools/ is not beside tests/ (run from a checkout)")


def releases(*versions, day="2026-01-01"):
    return {Version(v): f"{day}T00:00:00Z" for v in versions}


def test_every_transformers_release_from_the_first_is_planned_even_past_the_patches_ranges():
    last = max(p.last for p in vendor.load_manifest()[0] if p.file == sweep.COLLATOR_FILES["transformers"])
    newer = [f"{last.major}.{last.minor + 1}.0", f"{last.major}.{last.minor + 2}.0"]
    planned = sweep.plan(releases("4.29.0", "4.30.0", str(last), *newer), releases("0.6.0", "0.7.0", "0.20.0"))
    assert [str(v) for p, v, _ in planned if p == "transformers"] == ["4.30.0", str(last), *newer]
    # trl: only the releases with DataCollatorForCompletionOnlyLM, each paired with a transformers.
    assert [(str(v), str(w)) for p, v, w in planned if p == "trl"] == [("0.7.0", str(last))]


def test_new_picks_the_releases_with_no_row_newer_and_older():
    planned = [("transformers", Version(v), None) for v in ("4.30.0", "4.31.0", "5.23.0", "5.24.0", "5.25.0")]
    rows = {("transformers", v): {} for v in ("4.30.0", "5.23.0")}
    assert [str(v) for _, v, _ in sweep.unswept(planned, rows)] == ["4.31.0", "5.24.0", "5.25.0"]
    rows.update({("transformers", v): {} for v in ("4.31.0", "5.24.0", "5.25.0")})
    assert sweep.unswept(planned, rows) == []
