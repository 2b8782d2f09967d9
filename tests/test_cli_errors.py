"""Every eosfix command ends in one line on stderr with a documented exit status: broken dependencies, bad paths,
unexpected errors, --debug, and Ctrl-C."""

import json
import signal
import subprocess
import sys
import time

import pytest
from helpers import broken_package, clean_env, run_eosfix, small_copy


def assert_one_line_error(proc, status, *needles):
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_doctor_with_a_broken_wrapt(tmp_path):
    proc = run_eosfix(
        "doctor", "--json", pythonpath=broken_package(tmp_path, "wrapt", "ImportError('wrapt is broken')")
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ok"] is False and "wrapt cannot be imported" in report["reason"]
    assert "wrapt is broken" in report["reason"]


def test_doctor_with_a_torch_that_raises_at_import(tmp_path):
    path = broken_package(tmp_path, "torch", "OSError('libcudart.so.12: cannot open shared object file')")
    proc = run_eosfix("doctor", pythonpath=path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("NOT OK:") and "libcudart" in proc.stdout


def test_demo_without_torch(tmp_path):
    proc = run_eosfix("demo", "--steps", "2", pythonpath=broken_package(tmp_path, "torch", "ImportError('no torch')"))
    assert_one_line_error(proc, 2, "needs torch", "no torch")


def test_demo_with_a_torch_that_raises_oserror(tmp_path):
    proc = run_eosfix("demo", pythonpath=broken_package(tmp_path, "torch", "OSError('libcudart.so.12')"))
    assert_one_line_error(proc, 2, "OSError: libcudart.so.12")


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path):
    # A vendor module that cannot import its dependency, in the same process as the command.
    path = broken_package(tmp_path, "packaging", "ImportError('packaging is broken')")
    proc = run_eosfix("vendor", str(tmp_path), pythonpath=path)
    assert_one_line_error(proc, 2, "eosfix vendor:", "packaging is broken", "--debug")
    debug = run_eosfix("--debug", "vendor", str(tmp_path), pythonpath=path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    by_env = run_eosfix("vendor", str(tmp_path), pythonpath=path, env={"EOSFIX_DEBUG": "1"})
    assert "Traceback" in by_env.stderr


def test_demo_plot_into_a_missing_directory_fails_before_training(tmp_path):
    target = tmp_path / "missing" / "x.png"
    start = time.monotonic()
    proc = run_eosfix("demo", "--plot", str(target))
    assert_one_line_error(proc, 2, "--plot", str(target.parent), "does not exist")
    assert proc.stdout == "" and time.monotonic() - start < 60


def test_demo_plot_onto_a_directory_fails_before_training(tmp_path):
    (tmp_path / "x.png").mkdir()
    proc = run_eosfix("demo", "--plot", str(tmp_path / "x.png"))
    assert_one_line_error(proc, 2, "is a directory")


def test_demo_plot_without_suffix_prints_the_file_it_writes(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "out"
    proc = run_eosfix("demo", "--steps", "6", "--train-size", "32", "--test-size", "8", "--plot", str(target))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    assert f"plot written to {tmp_path / 'out.png'}" in proc.stdout


@pytest.mark.requires_torch
def test_ctrl_c_during_demo_is_one_line(tmp_path):
    full_env = clean_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "eosfix", "demo", "--steps", "100000", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        # A user's Ctrl-C reaches a process whose SIGINT is at its default. Under a runner that started the
        # suite in the background (CI), SIGINT is ignored and children inherit that; Python then installs no
        # KeyboardInterrupt handler at all.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Long enough to be importing torch or training; any moment must end the same way.
    try:
        time.sleep(8)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()  # never leave a 100000-step training behind a failed assertion
    assert proc.returncode == 130 and err.strip() == "eosfix demo: interrupted", err
    assert "Traceback" not in err


def test_ctrl_c_during_vendor_puts_the_copy_back(tmp_path, capsys, monkeypatch):
    from eosfix.vendoring import vendor

    copy_dir = small_copy("transformers", tmp_path)
    original = (copy_dir / "data/data_collator.py").read_bytes()
    real_git_apply = vendor.git_apply

    def interrupted_once_the_first_patch_is_in(patch, package, *options):
        result = real_git_apply(patch, package, *options)
        if "--check" not in options and "--reverse" not in options:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(vendor, "git_apply", interrupted_once_the_first_patch_is_in)
    try:
        status = vendor.main([str(copy_dir)])
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped `eosfix vendor` and left the copy patched")
    err = capsys.readouterr().err
    assert status == 130 and "interrupted; the copy is as it was" in err
    assert (copy_dir / "data/data_collator.py").read_bytes() == original
