"""The patch itself: orderings, idempotence, identity on revert, version gates, errors.

Orderings run in fresh interpreters (ddtrace's habit): each scenario prints one
JSON line that the test reads.
"""

import logging

import pytest
import wrapt
from helpers import HAS_TORCH, TENSORS, build_tokenizer, run_python

import eosfix
from eosfix import _patcher

# Each scenario script can call probe(): EOS tokens labelled / real EOS tokens
# in a pad = eos batch collated by the real collator, and state(): what vars()
# of the collator class holds.
PRELUDE = """
import json, sys
sys.path.insert(0, {tests!r})

def probe():
    from transformers import DataCollatorForLanguageModeling
    from helpers import TENSORS, build_tokenizer
    tok = build_tokenizer(pad="eos")
    collator = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors=TENSORS)
    batch = collator([tok("the cat </s> yes </s>"), tok("a </s>")])
    return int((batch["labels"] == tok.eos_token_id).sum())

def state():
    import wrapt
    from transformers.data.data_collator import DataCollatorForLanguageModeling as C
    attr = vars(C)["torch_call"]
    return {{"wrapped": isinstance(attr, wrapt.FunctionWrapper),
             "depth": _depth(attr), "original_id": id(_innermost(attr))}}

def _depth(attr):
    n = 0
    while hasattr(attr, "__wrapped__"):
        attr, n = attr.__wrapped__, n + 1
    return n

def _innermost(attr):
    while hasattr(attr, "__wrapped__"):
        attr = attr.__wrapped__
    return attr
"""

SCENARIOS = {
    "import_then_apply": """
        import transformers.data.data_collator as m
        original = id(vars(m.DataCollatorForLanguageModeling)["torch_call"])
        before = probe()
        applied = eosfix.apply()
        out = {"before": before, "after": probe(), "applied": applied, "is_applied": eosfix.is_applied(),
               "same_original": state()["original_id"] == original}
    """,
    "apply_then_import": """
        applied_early = eosfix.apply()
        loaded_early = "transformers" in sys.modules
        out = {"applied_early": applied_early, "loaded_early": loaded_early, "after": probe(),
               "is_applied": eosfix.is_applied()}
    """,
    "apply_twice": """
        eosfix.apply(); eosfix.apply()
        import transformers
        eosfix.apply()
        out = {"after": probe(), "depth": state()["depth"]}
    """,
    "revert_twice": """
        import transformers.data.data_collator as m
        C = m.DataCollatorForLanguageModeling
        originals = {n: vars(C)[n] for n in ("torch_call", "numpy_call", "tf_call") if n in vars(C)}
        eosfix.revert()
        eosfix.apply(); eosfix.revert(); eosfix.revert()
        out = {"identity": all(vars(C)[n] is f for n, f in originals.items()), "after": probe(),
               "is_applied": eosfix.is_applied()}
    """,
    "apply_revert_apply": """
        phases = [probe()]
        eosfix.apply(); phases.append(probe())
        eosfix.revert(); phases.append(probe())
        eosfix.apply(); phases.append(probe())
        out = {"phases": phases, "depth": state()["depth"]}
    """,
    "revert_cancels_pending": """
        eosfix.apply(); eosfix.revert()
        out = {"after": probe(), "is_applied": eosfix.is_applied()}
    """,
    "autopatch_before_transformers": """
        import eosfix.autopatch
        heavy = sorted(m for m in ("torch", "numpy", "transformers", "wrapt", "tensorflow") if m in sys.modules)
        out = {"heavy": heavy, "after": probe(), "is_applied": eosfix.is_applied()}
    """,
    "autopatch_after_transformers": """
        import transformers
        from transformers import DataCollatorForLanguageModeling
        import eosfix.autopatch
        out = {"after": probe(), "is_applied": eosfix.is_applied(), "tf": "tensorflow" in sys.modules}
    """,
}


def run_scenario(name, env=None):
    code = PRELUDE.format(tests=str(__import__("pathlib").Path(__file__).parent)) + "import eosfix\n"
    code += "\n".join(line[8:] for line in SCENARIOS[name].strip("\n").splitlines())
    code += "\nprint(json.dumps(out))\n"
    result, _ = run_python(code, env=env)
    return result


FIXED, BROKEN = 3, 0  # EOS labels in probe(): two in the first example, one in the second


def test_import_then_apply():
    r = run_scenario("import_then_apply")
    assert (r["before"], r["after"]) == (BROKEN, FIXED)
    assert r["applied"] and r["is_applied"] and r["same_original"]


def test_apply_then_import_patches_through_the_hook():
    r = run_scenario("apply_then_import")
    assert r["applied_early"] is False and r["loaded_early"] is False
    assert r["after"] == FIXED and r["is_applied"]


def test_apply_twice_wraps_once():
    r = run_scenario("apply_twice")
    assert r["after"] == FIXED and r["depth"] == 1


def test_revert_twice_restores_the_original_functions():
    r = run_scenario("revert_twice")
    assert r["identity"] and r["after"] == BROKEN and not r["is_applied"]


def test_apply_revert_apply_three_phases():
    r = run_scenario("apply_revert_apply")
    assert r["phases"] == [BROKEN, FIXED, BROKEN, FIXED] and r["depth"] == 1


def test_revert_before_import_cancels_the_pending_patch():
    r = run_scenario("revert_cancels_pending")
    assert r["after"] == BROKEN and not r["is_applied"]


def test_autopatch_before_transformers_imports_nothing_heavy():
    r = run_scenario("autopatch_before_transformers")
    assert r["heavy"] == []
    assert r["after"] == FIXED and r["is_applied"]


def test_autopatch_after_transformers():
    r = run_scenario("autopatch_after_transformers")
    assert r["after"] == FIXED and r["is_applied"] and not r["tf"]


@pytest.mark.parametrize("scenario", ["autopatch_before_transformers", "autopatch_after_transformers"])
def test_eosfix_disable_switches_autopatch_off(scenario):
    r = run_scenario(scenario, env={"EOSFIX_DISABLE": "1"})
    assert r["after"] == BROKEN and not r["is_applied"]


def test_autopatch_never_raises_into_the_program():
    code = (
        PRELUDE.format(tests=str(__import__("pathlib").Path(__file__).parent))
        + """
import logging
logging.basicConfig(level=logging.WARNING)
import eosfix._patcher
def broken(target, module):
    raise RuntimeError("simulated eosfix bug")
eosfix._patcher.patch = broken
import eosfix.autopatch
import transformers.data.data_collator
print(json.dumps({"after": probe()}))
"""
    )
    result, proc = run_python(code)
    assert result["after"] == BROKEN
    assert "simulated eosfix bug" in proc.stderr and "left as it was" in proc.stderr


# In-process checks: the module is imported once here and reverted around each test.


def _collator_class():
    from transformers.data.data_collator import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling


def test_wrappers_are_wrapt_function_wrappers_on_the_defining_class(unpatched):
    cls = _collator_class()
    eosfix.apply()
    methods = [n for n in ("torch_call", "numpy_call", "tf_call") if n in vars(cls)]
    assert {"torch_call", "numpy_call"} <= set(methods)
    for name in methods:
        assert isinstance(vars(cls)[name], wrapt.FunctionWrapper)
        assert isinstance(vars(cls)[name], _patcher.EOSLabelWrapper)
    assert not any(type(vars(cls)[name].__wrapped__) is _patcher.EOSLabelWrapper for name in methods)


def test_subclass_calling_super_gets_the_fix_without_being_wrapped(unpatched):
    cls = _collator_class()

    class Sub(cls):
        def torch_call(self, examples):
            return super().torch_call(examples)

        def numpy_call(self, examples):
            return super().numpy_call(examples)

    tok = build_tokenizer(pad="eos")
    eosfix.apply()
    batch = Sub(tok, mlm=False, return_tensors=TENSORS)([tok("the cat </s>"), tok("a </s>")])
    assert int((batch["labels"] == tok.eos_token_id).sum()) == 2
    assert not isinstance(vars(Sub)["torch_call"], wrapt.FunctionWrapper)
    assert not isinstance(vars(Sub)["numpy_call"], wrapt.FunctionWrapper)


def test_revert_under_a_foreign_wrapper_switches_ours_off(unpatched, caplog):
    cls = _collator_class()
    tok = build_tokenizer(pad="eos")
    method = "torch_call" if HAS_TORCH else "numpy_call"  # the one the collator calls here
    eosfix.apply()
    ours = vars(cls)[method]
    calls = []

    def foreign(wrapped, instance, args, kwargs):
        calls.append(1)
        return wrapped(*args, **kwargs)

    setattr(cls, method, wrapt.FunctionWrapper(ours, foreign))
    try:
        with caplog.at_level(logging.WARNING, logger="eosfix"):
            eosfix.revert()
        assert "switched its wrapper off" in caplog.text
        assert vars(cls)[method].__wrapped__ is ours  # the foreign wrapper stays
        assert not eosfix.is_applied()

        def eos():
            batch = cls(tok, mlm=False, return_tensors=TENSORS)([tok("a </s>"), tok("the cat </s>")])
            return int((batch["labels"] == 2).sum())

        assert eos() == 0 and calls
        eosfix.apply()  # switches ours back on rather than wrapping again
        assert eosfix.is_applied() and eos() == 2
        assert vars(cls)[method].__wrapped__ is ours
    finally:
        setattr(cls, method, ours)
        eosfix.revert()


@pytest.mark.parametrize("as_lists", [True, False])
def test_library_errors_pass_through_unchanged(as_lists, unpatched):
    from transformers import DataCollatorForLanguageModeling

    tok = build_tokenizer(pad=None)
    examples = [tok("the cat sat </s>"), tok("a </s>")]
    if as_lists:
        examples = [e["input_ids"] for e in examples]

    def error():
        with pytest.raises(Exception) as info:
            DataCollatorForLanguageModeling(tok, mlm=False, return_tensors=TENSORS)(examples)
        return type(info.value), str(info.value)

    stock = error()
    with eosfix.patched():
        fixed = error()
    assert stock == fixed
    assert stock[0] is ValueError


def test_equal_length_examples_without_pad_token_still_work(unpatched):
    from transformers import DataCollatorForLanguageModeling

    tok = build_tokenizer(pad=None)
    examples = [tok("the cat </s>")["input_ids"], tok("a dog </s>")["input_ids"]]
    stock = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors=TENSORS)(examples)["labels"].tolist()
    with eosfix.patched():
        fixed = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors=TENSORS)(examples)["labels"].tolist()
    assert stock == fixed == [list(e) for e in examples]


def test_unknown_version_with_known_shape_is_patched(unpatched, monkeypatch, caplog):
    import transformers

    monkeypatch.setattr(transformers, "__version__", "99.0.0")
    with caplog.at_level(logging.INFO, logger="eosfix"):
        assert eosfix.apply()
    assert "still has the known shape" in caplog.text


def test_unknown_version_with_new_shape_is_skipped_with_one_warning(unpatched, monkeypatch, caplog):
    import transformers

    cls = _collator_class()
    monkeypatch.setattr(transformers, "__version__", "99.0.0")
    monkeypatch.setattr(_patcher, "_warned", set())

    def torch_call(self, examples):  # a future rewrite that no longer masks by value
        return {}

    monkeypatch.setattr(cls, "torch_call", torch_call)
    with caplog.at_level(logging.WARNING, logger="eosfix"):
        assert eosfix.apply() is False
        eosfix.apply()
    assert vars(cls)["torch_call"] is torch_call
    warnings = [r for r in caplog.records if "99.0.0" in r.getMessage()]
    assert len(warnings) == 1 and "left it unpatched" in warnings[0].getMessage()
