"""The switch (apply, revert, patched, unpatched) as a program meets it: a broken wrapt, the user's own
EOSFIX_AUTOPATCH value, and every variable eosfix reads named once."""

import os

import pytest
from helpers import broken_package, run_python

import eosfix
from eosfix import environment_variables


def test_switch_queries_never_raise_with_a_broken_wrapt(tmp_path):
    path = broken_package(tmp_path, "wrapt", "ImportError('wrapt is broken here')")
    result, proc = run_python(
        """
        import json, logging
        logging.disable(logging.CRITICAL)
        import eosfix.autopatch
        import transformers.data.data_collator
        import eosfix
        answers = [eosfix.is_applied()]
        eosfix.revert()
        answers.append(eosfix.apply())
        with eosfix.patched():
            answers.append(eosfix.is_applied())
        print(json.dumps(answers))
        """,
        env={"PYTHONPATH": path},
    )
    assert result == [False, False, False]


def test_revert_restores_the_users_autopatch_value(clean_environ, monkeypatch, unpatched):
    monkeypatch.setenv("EOSFIX_AUTOPATCH", "0")
    eosfix.apply()
    assert os.environ["EOSFIX_AUTOPATCH"] == "1"
    eosfix.revert()
    assert os.environ["EOSFIX_AUTOPATCH"] == "0"
    monkeypatch.delenv("EOSFIX_AUTOPATCH")
    eosfix.apply()
    eosfix.revert()
    assert "EOSFIX_AUTOPATCH" not in os.environ


@pytest.mark.parametrize("before", ["unpatched", "applied"])
def test_unpatched_puts_back_what_was_there(before, clean_environ, monkeypatch, unpatched):
    import transformers.data.data_collator  # noqa: F401

    if before == "applied":
        eosfix.apply()
    else:
        monkeypatch.setenv("EOSFIX_AUTOPATCH", "on")
    env_before = os.environ.get("EOSFIX_AUTOPATCH")
    applied_before = eosfix.is_applied()
    with eosfix.unpatched():
        assert not eosfix.is_applied()
        with eosfix.patched():
            assert eosfix.is_applied()
        assert not eosfix.is_applied()
    assert eosfix.is_applied() is applied_before
    assert os.environ.get("EOSFIX_AUTOPATCH") == env_before
    eosfix.revert()
    assert os.environ.get("EOSFIX_AUTOPATCH") == ("on" if before == "unpatched" else None)


def test_environment_variables_are_named_once():
    names = [name for name in vars(environment_variables) if name.startswith("EOSFIX_")]
    assert sorted(names) == ["EOSFIX_AUDIT", "EOSFIX_AUTOPATCH", "EOSFIX_DEBUG", "EOSFIX_DISABLE"]
    for name in names:
        assert getattr(environment_variables, name) == name
