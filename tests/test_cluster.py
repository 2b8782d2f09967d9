"""eosfix.ray_runtime_env() and eosfix.autopatch_env(): the settings that hand the switch to a cluster engine.

The end-to-end check on a real Ray cluster is tests/test_ray.py (tox env dist-tf523), on real SLURM and DeepSpeed
launches tests/test_slurm.py and tests/test_deepspeed.py (tox env cluster-tf523); these run everywhere.
"""

from pathlib import Path

import pytest
from helpers import run_python

import eosfix
import eosfix.cluster


def test_env_vars_is_the_autopatch_switch():
    assert eosfix.autopatch_env() == {"EOSFIX_AUTOPATCH": "1"}


def test_ray_runtime_env_without_argument():
    assert eosfix.ray_runtime_env() == {"env_vars": {"EOSFIX_AUTOPATCH": "1"}}


def test_ray_runtime_env_merges_and_leaves_the_argument_alone():
    users = {"pip": ["datasets"], "env_vars": {"HF_HOME": "/data/hf"}, "working_dir": "."}
    merged = eosfix.ray_runtime_env(users)
    assert merged == {
        "pip": ["datasets"],
        "env_vars": {"HF_HOME": "/data/hf", "EOSFIX_AUTOPATCH": "1"},
        "working_dir": ".",
    }
    assert users == {"pip": ["datasets"], "env_vars": {"HF_HOME": "/data/hf"}, "working_dir": "."}
    assert merged is not users and merged["env_vars"] is not users["env_vars"]


def test_ray_runtime_env_keeps_a_value_the_user_set():
    assert eosfix.ray_runtime_env({"env_vars": {"EOSFIX_AUTOPATCH": "0"}})["env_vars"] == {"EOSFIX_AUTOPATCH": "0"}


def test_ray_runtime_env_rejects_env_vars_that_are_not_a_mapping():
    with pytest.raises(TypeError, match="env_vars must be a mapping"):
        eosfix.ray_runtime_env({"env_vars": ["EOSFIX_AUTOPATCH=1"]})


def test_the_helpers_import_nothing_heavy():
    result, _ = run_python(
        """
        import json, sys
        import eosfix
        eosfix.ray_runtime_env({"env_vars": {}})
        print(json.dumps(sorted(m for m in ("ray", "torch", "transformers", "wrapt") if m in sys.modules)))
        """
    )
    assert result == []


def test_slurm_export_forwards_everything_plus_the_switch():
    assert eosfix.cluster.slurm_export() == "ALL,EOSFIX_AUTOPATCH=1"


def test_write_deepspeed_env_creates_the_file_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert eosfix.cluster.write_deepspeed_env() == Path(".deepspeed_env")
    assert (tmp_path / ".deepspeed_env").read_bytes() == b"EOSFIX_AUTOPATCH=1\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("HF_HOME=/data/hf\n", "HF_HOME=/data/hf\nEOSFIX_AUTOPATCH=1\n"),
        # A last line without its newline: `echo X >> .deepspeed_env` would have glued the two lines together.
        ("A=1\nB=2", "A=1\nB=2\nEOSFIX_AUTOPATCH=1\n"),
        ("A=1\r\nB=x=y\r\n", "A=1\nB=x=y\nEOSFIX_AUTOPATCH=1\n"),
        ("EOSFIX_AUTOPATCH=0\nA=1\n", "EOSFIX_AUTOPATCH=1\nA=1\n"),
        ("A=1\nEOSFIX_AUTOPATCH=true\n", "A=1\nEOSFIX_AUTOPATCH=true\n"),
        ("", "EOSFIX_AUTOPATCH=1\n"),
    ],
)
def test_write_deepspeed_env_keeps_the_other_lines_and_is_idempotent(tmp_path, before, after):
    path = tmp_path / ".deepspeed_env"
    path.write_bytes(before.encode())
    path.chmod(0o640)
    eosfix.cluster.write_deepspeed_env(str(path))
    assert path.read_bytes() == after.encode()
    assert path.stat().st_mode & 0o777 == 0o640
    stamp = path.stat().st_mtime_ns
    eosfix.cluster.write_deepspeed_env(path)
    assert path.read_bytes() == after.encode() and path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [".deepspeed_env"]  # no temporary file left


@pytest.mark.parametrize(
    ("before", "line"),
    [("# eosfix\n", 1), ("A=1\n\nB=2\n", 2), ("A=1\n#EOSFIX_AUTOPATCH=1\n", 2), ("export A=1\n", 1), ("A\n", 1)],
)
def test_write_deepspeed_env_refuses_a_line_the_launcher_cannot_take(tmp_path, before, line):
    path = tmp_path / ".deepspeed_env"
    path.write_text(before)
    with pytest.raises(ValueError, match=rf"\.deepspeed_env:{line}: .* is not a KEY=VALUE line.*remove that line"):
        eosfix.cluster.write_deepspeed_env(path)
    assert path.read_text() == before


def test_write_deepspeed_env_follows_a_symbolic_link(tmp_path):
    shared = tmp_path / "shared.env"
    shared.write_text("A=1\n")
    link = tmp_path / ".deepspeed_env"
    link.symlink_to(shared)
    eosfix.cluster.write_deepspeed_env(link)
    assert link.is_symlink() and shared.read_text() == "A=1\nEOSFIX_AUTOPATCH=1\n"
