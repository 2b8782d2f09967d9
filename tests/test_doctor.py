"""``eosfix doctor`` in a real process: what it reports and how it exits."""

import json
import shutil
import sys

import pytest
from helpers import installed, run_eosfix


def doctor(*args, env=None, via=None):
    return run_eosfix(*args, env=env, prefix=via) if via else run_eosfix("doctor", *args, env=env)


def test_doctor_reports_an_affected_environment_fixed_by_eosfix():
    proc = doctor("--json")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr
    assert report["transformers"] == installed("transformers")
    assert report["trl"] == installed("trl")
    assert report["affected"] is True and report["fixed"] is True and report["ok"] is True
    assert report["patch_active"] is False  # nothing imported eosfix.autopatch in that process
    for case in report["probe"].values():
        assert case["eos"] > 0 and case["stock_labelled"] == 0 and case["fixed_labelled"] == case["eos"]


def test_doctor_sees_the_patch_active_in_its_process():
    code = "import sys, eosfix.autopatch; from eosfix.__main__ import main; sys.exit(main(['doctor', '--json']))"
    proc = doctor(via=[sys.executable, "-c", code])
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0 and report["patch_active"] is True


def test_doctor_fails_with_a_reason_when_disabled():
    proc = doctor(env={"EOSFIX_DISABLE": "1"})
    assert proc.returncode == 1
    assert "NOT OK: EOSFIX_DISABLE is set" in proc.stdout
    assert "with eosfix 0/" in proc.stdout


def test_doctor_text_report_shows_before_and_after():
    proc = doctor()
    assert proc.returncode == 0, proc.stderr
    assert "affected (stock collator drops EOS labels with pad = eos): yes" in proc.stdout
    assert "stock 0/4   with eosfix 4/4" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("OK: safe with eosfix")


@pytest.mark.skipif(shutil.which("eosfix") is None, reason="the eosfix console script is not installed here")
def test_console_script():
    proc = doctor("--json", via=[shutil.which("eosfix"), "doctor"])
    assert proc.returncode == 0 and json.loads(proc.stdout)["ok"] is True
