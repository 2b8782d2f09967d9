"""eosfix.ray_runtime_env() and eosfix.autopatch_env(): the settings that hand the switch to a cluster engine.

The end-to-end check on a real Ray cluster is tests/test_ray.py (tox env dist-tf523); these run everywhere.
"""

import pytest
from helpers import run_python

import eosfix


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
