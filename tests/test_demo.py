"""``eosfix demo`` in a real process, at a reduced size (the full run is a benchmark, kept out of the suite)."""

import json

import pytest
from helpers import run_eosfix

# The demo trains a model: torch throughout (tests/conftest.py skips it, with the reason, without torch).
pytestmark = pytest.mark.requires_torch

# Small, yet the stock model has already learnt to name authors and the fixed
# one to stop: fixed stops on every held-out quote from the first evaluation.
QUICK = ["--steps", "80", "--train-size", "320", "--test-size", "60", "--eval-every", "40", "--no-progress"]


def demo(*args, code=None, env=None):
    return run_eosfix(*args, code=code, env=env) if code else run_eosfix("demo", *args, env=env)


@pytest.fixture(scope="module")
def quick_run():
    proc = demo(*QUICK, "--json")
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(proc.stdout.strip().splitlines()[-1])


def test_json_shape(quick_run):
    _, result = quick_run
    assert {"stock", "fixed"} <= set(result)
    for run in (result["stock"], result["fixed"]):
        for key in ("stop_rate", "exact_rate", "eos_label_coverage", "final_loss", "seconds"):
            assert isinstance(run[key], (int, float)), key
        assert 0 <= run["stop_rate"] <= 1 and 0 <= run["exact_rate"] <= run["stop_rate"]
        assert [point["step"] for point in run["history"]] == [40, 80]
        assert run["samples"] and {"prompt", "generated"} <= set(run["samples"][0])


def test_fixed_model_stops_and_stock_does_not(quick_run):
    _, result = quick_run
    stock, fixed = result["stock"], result["fixed"]
    assert stock["eos_label_coverage"] == 0.0 and fixed["eos_label_coverage"] == 1.0
    assert stock["stop_rate"] <= 0.1
    assert fixed["stop_rate"] >= 0.9


def test_text_report_and_clean_stderr(quick_run):
    proc, _ = quick_run
    assert "stop rate (held-out)" in proc.stdout and "with eosfix:" in proc.stdout
    assert "Traceback" not in proc.stderr


def small_settings(*extra):
    from eosfix.diagnostics.demo.command import _parser, settings_from

    sizes = ["--steps", "6", "--train-size", "32", "--test-size", "8", "--eval-every", "3"]
    return settings_from(_parser().parse_args([*sizes, *extra]))


def test_same_seed_same_numbers(unpatched):
    from eosfix.diagnostics.demo.tiny import run

    def without_timing(results):
        return {side: {k: v for k, v in record.items() if k != "seconds"} for side, record in results.items()}

    first, first_curves = run(small_settings())
    again, again_curves = run(small_settings())
    # Everything but the wall-clock seconds must repeat exactly.
    assert without_timing(again) == without_timing(first) and again_curves == first_curves
    other, other_curves = run(small_settings("--seed", "1"))
    assert other_curves != first_curves


def test_plot_without_matplotlib_is_a_clear_error(tmp_path):
    # find_spec reports a module set to None in sys.modules as missing.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from eosfix.diagnostics.demo.command import main\nsys.exit(main(sys.argv[1:]))"
    )
    proc = demo("--plot", str(tmp_path / "demo.png"), code=code)
    assert proc.returncode == 2
    assert "--plot needs matplotlib" in proc.stderr and "eosfix[plot]" in proc.stderr
    assert not (tmp_path / "demo.png").exists()


def test_disabled_eosfix_is_a_clear_error():
    proc = demo("--steps", "2", env={"EOSFIX_DISABLE": "1"})
    assert proc.returncode == 1
    assert "EOSFIX_DISABLE is set" in proc.stderr and "Traceback" not in proc.stderr


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "demo.png"
    proc = demo("--steps", "20", "--train-size", "64", "--test-size", "10", "--no-progress", "--plot", str(path))
    assert proc.returncode == 0, proc.stderr
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("applied", [True, False])
def test_run_restores_the_patch_state(applied, unpatched):
    import eosfix
    from eosfix.diagnostics.demo.tiny import run

    if applied:
        eosfix.apply()
    run(small_settings())
    assert eosfix.is_applied() is applied


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([5, 6, 9], (True, True, True)),  # the right name, then EOS at once
        ([7, 9], (True, False, False)),  # another author's shorter name, then EOS: it stopped, but wrongly
        ([5, 6, 1, 1, 9], (True, False, True)),  # two tokens late: still a stop
        ([5, 6, 1, 1, 1, 1], (False, False, True)),  # the right name, and no EOS
        ([5, 9, 1], (False, False, False)),  # EOS inside the name
        ([5, 6, 1, 1, 1, 1, 9], (False, False, True)),  # EOS four tokens late
    ],
)
def test_demos_judge_a_stop_by_the_name_the_model_said(ids, expected):
    """Real tokenizers give names different lengths: a stop is an EOS after the name the model said."""
    from eosfix.diagnostics.demo.evaluation import judge

    assert judge(ids, answer=[5, 6], names=[[5, 6], [7], [8, 8, 8]], eos=9, slack=3) == expected
