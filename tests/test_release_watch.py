"""The release watch of eosfix doctor (``eosfix.diagnostics.doctor.releases``): newer than verified? bug there?"""

import json
import subprocess
import sys

import pytest
from helpers import installed

from eosfix.diagnostics.doctor import releases


def test_installed_transformers_still_masks_labels_by_value():
    # Every release the sweep covers has the line; a release that drops it shows up here and in the doctor.
    lines = releases.masking_lines(releases.class_source("transformers"))
    assert lines and all("pad_token_id" in line for line in lines)


def test_masking_lines_ignore_a_fixed_collator():
    fixed = "class DataCollatorForLanguageModeling:\n    labels[padding_mask] = -100\n"
    assert releases.masking_lines(fixed) == []
    assert releases.masking_lines("        labels[labels == self.tokenizer.pad_token_id] = -100\n")


def test_installed_release_inside_the_verified_range_is_not_flagged(monkeypatch):
    monkeypatch.setattr(releases, "VERIFIED", {"transformers": ("4.30.0", installed("transformers"))})
    entry = releases.check()["transformers"]
    assert entry["newer"] is False and entry["needs_sweep"] is False


def test_newer_release_that_still_masks_by_value(monkeypatch):
    monkeypatch.setattr(releases, "VERIFIED", {"transformers": ("4.30.0", "4.29.0")})
    entry = releases.check()["transformers"]
    assert entry["newer"] and entry["needs_sweep"]
    assert "still masks labels by value" in entry["note"] and "the live probe's" in entry["note"]
    # Advice a user can follow: nothing that needs the eosfix repository.
    assert "eosfix vendor PATH --check" in entry["note"] and "tools/" not in entry["note"]


def test_newer_release_without_the_line_is_reported_as_maybe_fixed(monkeypatch):
    monkeypatch.setattr(releases, "VERIFIED", {"transformers": ("4.30.0", "4.29.0")})
    monkeypatch.setattr(releases, "class_source", lambda name: "class DataCollatorForLanguageModeling:\n    pass\n")
    entry = releases.check()["transformers"]
    assert entry["value_masking_lines"] == [] and "may have fixed the bug" in entry["note"]


@pytest.mark.skipif(installed("trl") is None, reason="trl is not installed in this env")
def test_newer_trl_without_the_completion_collator_needs_no_sweep(monkeypatch):
    monkeypatch.setattr(releases, "VERIFIED", {"trl": ("0.7.0", "0.0.1")})
    entry = releases.check()["trl"]
    assert entry["newer"] and entry["needs_sweep"] is entry["has_collator"]


def test_doctor_on_a_newer_release_gives_the_probe_verdict_and_user_advice(monkeypatch):
    from eosfix.diagnostics.doctor import command as doctor

    monkeypatch.setattr(releases, "VERIFIED", {"transformers": ("4.30.0", "4.29.0")})
    report = doctor.diagnose()
    text = doctor.render(report)
    assert f"upstream:    transformers {installed('transformers')}: newer than the releases" in text
    assert "eosfix vendor PATH --check" in text and "tools/sweep.py" not in text
    # The verdict is the live probe's, newer release or not.
    assert report["ok"] is report["fixed"] is all(r["fixed_labelled"] == r["eos"] for r in report["probe"].values())


def test_doctor_json_carries_the_watch():
    proc = subprocess.run(
        [sys.executable, "-m", "eosfix", "doctor", "--json"], capture_output=True, text=True, timeout=300
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["upstream"]["transformers"]["installed"] == installed("transformers")
