"""The patch itself: orderings, idempotence, identity on revert, version gates, errors.

Orderings run in fresh interpreters (ddtrace's habit): each scenario prints one
JSON line that the test reads.
"""

import logging
import textwrap
from pathlib import Path

import pytest
import wrapt
from helpers import HAS_TORCH, TENSORS, build_tokenizer, run_python

import eosfix
from eosfix import _patcher
from eosfix.targets import AUDIT_TARGETS, REQUIRED, TARGETS, load_target

TESTS = str(Path(__file__).resolve().parent)

# The first lines of every scenario script: probe() collates a pad = eos batch with the real collator and counts
# the EOS labels (FIXED when every real EOS keeps its label, BROKEN when none does).
PRELUDE = textwrap.dedent(
    f"""
    import json, sys
    sys.path.insert(0, {TESTS!r})

    def probe():
        from transformers import DataCollatorForLanguageModeling
        from helpers import TENSORS, build_tokenizer
        tok = build_tokenizer(pad="eos")
        collator = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors=TENSORS)
        batch = collator([tok("the cat </s> yes </s>"), tok("a </s>")])
        return int((batch["labels"] == tok.eos_token_id).sum())
    """
)
FIXED, BROKEN = 3, 0  # EOS labels in probe(): two in the first example, one in the second

# One scenario runs STEPS in a fresh interpreter, in order, and prints what it saw as one JSON line:
#   import       import transformers.data.data_collator       apply      eosfix.apply()
#   import_top   import transformers (lazy: no collator yet)   revert     eosfix.revert()
#   import_lazy  import transformers, then the collator        autopatch  import eosfix.autopatch
#   probe        probe() (imports the collator)
# and, at the end, probe() again and the state of the collator class.
SCENARIO = textwrap.dedent(
    """
    HEAVY = ("torch", "numpy", "transformers", "wrapt", "tensorflow")
    METHODS = ("torch_call", "numpy_call", "tf_call")
    NOT_CORE = ("eosfix.diagnostics", "eosfix.vendoring")  # the patch must never load these


    def collator_class():
        module = sys.modules.get("transformers.data.data_collator")
        return None if module is None else module.DataCollatorForLanguageModeling


    def chain(attribute):
        # The __wrapped__ chain of a method attribute, outermost first.
        found = [attribute]
        while hasattr(found[-1], "__wrapped__"):
            found.append(found[-1].__wrapped__)
        return found


    import eosfix

    out = {"probes": [], "applies": [], "heavy_before_import": None}
    originals = None
    for step in STEPS + ["end"]:
        if step not in ("apply", "revert", "autopatch") and out["heavy_before_import"] is None:
            out["heavy_before_import"] = sorted(name for name in HEAVY if name in sys.modules)
        if step == "import":
            import transformers.data.data_collator
        elif step == "import_top":
            import transformers
        elif step == "import_lazy":
            import transformers
            from transformers import DataCollatorForLanguageModeling
        elif step == "apply":
            out["applies"].append([eosfix.apply(), collator_class() is not None])
        elif step == "revert":
            eosfix.revert()
        elif step == "autopatch":
            import eosfix.autopatch
        elif step == "probe":
            out["probes"].append(probe())
        elif step == "end":
            out["after"] = probe()
        cls = collator_class()
        if cls is not None and originals is None:  # the stock functions, seen at the first import
            originals = {name: chain(vars(cls)[name])[-1] for name in METHODS if name in vars(cls)}

    attributes = {name: vars(collator_class())[name] for name in originals}
    out["is_applied"] = eosfix.is_applied()
    out["depth"] = len(chain(attributes["torch_call"])) - 1
    out["originals_kept"] = all(chain(attributes[name])[-1] is originals[name] for name in originals)
    out["unwrapped"] = all(attributes[name] is originals[name] for name in originals)
    out["diagnostics_loaded"] = sorted(m for m in sys.modules if m.startswith(NOT_CORE))
    out["tensorflow"] = "tensorflow" in sys.modules
    print(json.dumps(out))
    """
)

# Import, patch and unpatch orderings, each once in a fresh interpreter (ddtrace's habit); True: EOSFIX_DISABLE=1.
ORDERINGS = [
    (("import", "probe", "apply"), False),
    (("apply", "import"), False),
    (("apply", "apply", "import_top", "apply"), False),
    (("import", "revert", "apply", "revert", "revert"), False),
    (("probe", "apply", "probe", "revert", "probe", "apply", "probe"), False),
    (("apply", "revert"), False),
    (("autopatch",), False),
    (("import_lazy", "autopatch"), False),
    (("autopatch",), True),
    (("import_lazy", "autopatch"), True),
]


def predicted(steps, disabled):
    """What a scenario must print, from the switch's contract; and, per apply(), whether the patch was wanted.

    apply() asks for the patch, revert() cancels it, ``import eosfix.autopatch`` applies once (a module runs
    once), EOSFIX_DISABLE wins over both. Wanted means patched as soon as the collator is imported, and
    nothing else: one wrapper deep, the stock functions kept under it and put back by revert(), nothing
    heavy imported before transformers, nothing of the diagnostics ever.
    """
    wanted = autopatched = False
    probes, wanted_at_apply = [], []
    for step in steps:
        if step == "apply":
            wanted = wanted or not disabled
            wanted_at_apply.append(wanted)
        elif step == "revert":
            wanted = False
        elif step == "autopatch" and not autopatched:
            autopatched, wanted = True, wanted or not disabled
        elif step == "probe":
            probes.append(FIXED if wanted else BROKEN)
    expected = {
        "probes": probes,
        "after": FIXED if wanted else BROKEN,
        "is_applied": wanted,
        "depth": int(wanted),
        "originals_kept": True,
        "unwrapped": not wanted,
        "heavy_before_import": [],
        "diagnostics_loaded": [],
        "tensorflow": False,
    }
    return expected, wanted_at_apply


@pytest.mark.parametrize(
    "steps, disabled", ORDERINGS, ids=["-".join(s) + ("-disabled" if d else "") for s, d in ORDERINGS]
)
def test_import_patch_unpatch_ordering(steps, disabled):
    code = PRELUDE + f"STEPS = {list(steps)!r}\n" + SCENARIO
    result, _ = run_python(code, env={"EOSFIX_DISABLE": "1"} if disabled else None)
    expected, wanted_at_apply = predicted(steps, disabled)
    applies = result.pop("applies")
    assert result == expected
    # apply() returns whether the patch is in place now: asked for, and the collator's module imported.
    assert [returned for returned, _ in applies] == [w and loaded for w, (_, loaded) in zip(wanted_at_apply, applies)]


# Every target, not only the collator: import/patch orders in a fresh interpreter, whatever the target.
TARGET_SCENARIO = textwrap.dedent(
    """
    import importlib, json, sys
    import eosfix
    from eosfix.targets import load_target

    for step in STEPS:
        if step == "import":
            importlib.import_module(NAME)
        elif step == "apply":
            eosfix.apply()
        elif step == "revert":
            eosfix.revert()
    module = importlib.import_module(NAME)
    target = load_target(NAME)
    cls = getattr(module, target.CLASS)
    owners = {name: next(k for k in cls.__mro__ if name in vars(k)) for name in target.METHODS if hasattr(cls, name)}
    attributes = {name: vars(owner)[name] for name, owner in owners.items()}
    print(json.dumps({
        "methods": sorted(attributes),
        "wrapped": sorted(name for name, value in attributes.items() if type(value).__name__ == "EOSLabelWrapper"),
    }))
    """
)
TARGET_ORDERINGS = [("import", "apply"), ("apply", "import"), ("apply", "import", "revert")]
# The collator has the detailed scenarios above; the others, and the Trainer audit's handler, get these.
OTHER_TARGETS = sorted(name for name in {**TARGETS, **AUDIT_TARGETS} if name != REQUIRED)


def _importable(module):
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@pytest.mark.parametrize("steps", TARGET_ORDERINGS, ids=["-".join(s) for s in TARGET_ORDERINGS])
@pytest.mark.parametrize("name", OTHER_TARGETS)
def test_every_target_in_every_import_order(name, steps):
    if not _importable(name):
        pytest.skip(f"{name} does not exist in the installed release")
    target = load_target(name)
    module = __import__(name, fromlist=["_"])
    wanted = steps.count("apply") > 0 and steps[-1] != "revert"
    code = f"NAME = {name!r}\nSTEPS = {list(steps)!r}\n" + TARGET_SCENARIO
    result, _ = run_python(code)
    assert result["methods"], f"{target.CLASS} has none of {sorted(target.METHODS)}"
    if wanted and _patcher.supports(target, module):
        assert result["wrapped"] == result["methods"]
    else:
        assert result["wrapped"] == []


def test_autopatch_never_raises_into_the_program():
    code = PRELUDE + textwrap.dedent(
        """
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
