"""The label rule, through the real collator, against an independent reference.

The reference below works example by example in plain Python and says what a
careful user expects: every token of an example keeps its label (EOS included,
also in the middle of a multi-turn example), padding gets -100, and examples
that came pre-padded without a mask follow the documented guess.
"""

import copy
import sys
import warnings

import pytest
from helpers import HAS_TORCH, IGNORE, TENSORS, build_tokenizer
from hypothesis import given
from hypothesis import strategies as st

import eosfix
from eosfix.labels import AmbiguousPaddingWarning, causal_lm_labels, padding_mask


def reference_row(ids, mask, width, padding_side, pad_id, eos_id):
    """Expected labels of one example in a padded row of ``width``."""
    if pad_id != eos_id:
        own = [IGNORE if token == pad_id else token for token in ids]  # stock
    elif mask is not None:
        own = [token if keep else IGNORE for token, keep in zip(ids, mask)]
    else:
        # The documented guess: of a run of pad ids at an edge only the one next to the content is the
        # example's own; an example made only of pad ids keeps its first.
        own = list(ids)
        lead = next((k for k, token in enumerate(ids) if token != pad_id), len(ids))
        if lead == len(ids):
            own[1:] = [IGNORE] * (len(ids) - 1)
        else:
            own[: max(lead - 1, 0)] = [IGNORE] * max(lead - 1, 0)
            end = len(ids)
            while ids[end - 1] == pad_id:
                end -= 1
            own[end + 1 :] = [IGNORE] * (len(ids) - end - 1)
    padding = [IGNORE] * (width - len(ids))
    return own + padding if padding_side == "right" else padding + own


def to_list(array):
    return array.tolist()


@st.composite
def collator_cases(draw):
    pad_is_eos = draw(st.booleans())
    form = draw(st.sampled_from(["dict+mask", "dict", "list", "array"]))
    tokenizer_has_mask = True if form == "dict+mask" else draw(st.booleans())
    tokenizer = build_tokenizer(
        pad="eos" if pad_is_eos else "pad",
        padding_side=draw(st.sampled_from(["right", "left"])),
        with_attention_mask=tokenizer_has_mask,
    )
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    words = [tokenizer.convert_tokens_to_ids(w) for w in ("the", "cat", "sat", "a", "dog", "yes")]
    # Content never holds the pad id unless pad is the EOS: a distinct pad
    # token does not occur in text.
    content = st.lists(st.sampled_from([*words, eos, eos, tokenizer.bos_token_id]), min_size=1, max_size=10)
    examples_spec = []
    for _ in range(draw(st.integers(1, 5))):
        body = draw(content)
        if draw(st.booleans()):
            body = body + [eos]
        # Some examples arrive already padded (with a mask saying so, for dict+mask).
        left_pad, right_pad = (draw(st.integers(0, 3)), draw(st.integers(0, 3))) if draw(st.booleans()) else (0, 0)
        ids = [pad] * left_pad + body + [pad] * right_pad
        mask = [0] * left_pad + [1] * len(body) + [0] * right_pad
        examples_spec.append((ids, mask if form == "dict+mask" else None))
    return {
        "tokenizer": tokenizer,
        "form": form,
        "spec": examples_spec,
        "return_tensors": draw(st.sampled_from(["pt", "np"] if HAS_TORCH else ["np"])),
        "pad_to_multiple_of": draw(st.sampled_from([None, 4, 8])),
    }


def make_examples(case):
    import numpy as np

    examples = []
    for ids, mask in case["spec"]:
        if case["form"] == "dict+mask":
            examples.append({"input_ids": list(ids), "attention_mask": list(mask)})
        elif case["form"] == "dict":
            examples.append({"input_ids": list(ids)})
        elif case["form"] == "list":
            examples.append(list(ids))
        else:
            if case["return_tensors"] == "pt":
                import torch

                examples.append(torch.tensor(ids))
            else:
                examples.append(np.array(ids, dtype=np.int64))
    return examples


def collate(case, mlm=False):
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(
        case["tokenizer"],
        mlm=mlm,
        pad_to_multiple_of=case["pad_to_multiple_of"],
        return_tensors=case["return_tensors"],
    )
    return collator(make_examples(case))


@given(collator_cases())
def test_patched_collator_matches_reference(case):
    tokenizer = case["tokenizer"]
    eosfix.revert()
    stock = collate(case)
    with eosfix.patched(), warnings.catch_warnings():
        warnings.simplefilter("ignore", AmbiguousPaddingWarning)
        fixed = collate(case)

    width = fixed["input_ids"].shape[1]
    expected = [
        reference_row(ids, mask, width, tokenizer.padding_side, tokenizer.pad_token_id, tokenizer.eos_token_id)
        for ids, mask in case["spec"]
    ]
    assert to_list(fixed["labels"]) == expected
    # Only labels change: the inputs, the mask and the label dtype are stock.
    assert to_list(fixed["input_ids"]) == to_list(stock["input_ids"])
    assert sorted(fixed) == sorted(stock)
    assert fixed["labels"].dtype == stock["labels"].dtype
    if tokenizer.pad_token_id != tokenizer.eos_token_id:
        assert to_list(fixed["labels"]) == to_list(stock["labels"])


@given(collator_cases())
def test_examples_are_not_mutated(case):
    examples = make_examples(case)
    before = copy.deepcopy(examples)
    from transformers import DataCollatorForLanguageModeling

    with eosfix.patched(), warnings.catch_warnings():
        warnings.simplefilter("ignore", AmbiguousPaddingWarning)
        DataCollatorForLanguageModeling(case["tokenizer"], mlm=False, return_tensors=case["return_tensors"])(examples)
    for old, new in zip(before, examples):
        if isinstance(old, dict):
            assert old == new
        else:
            assert list(old) == list(new)


@pytest.mark.parametrize("return_tensors", ["pt", "np"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_mlm_output_is_bit_identical(return_tensors, padding_side, unpatched):
    import numpy as np

    tokenizer = build_tokenizer(pad="eos", padding_side=padding_side, mask_token=True)
    case = {
        "tokenizer": tokenizer,
        "form": "dict",
        "return_tensors": return_tensors,
        "pad_to_multiple_of": None,
        "spec": [(tokenizer("the cat sat </s>")["input_ids"], None), (tokenizer("a dog </s>")["input_ids"], None)],
    }

    def seeded():
        if return_tensors == "pt":
            import torch

            torch.manual_seed(0)
        np.random.seed(0)
        return collate(case, mlm=True)

    stock = seeded()
    with eosfix.patched():
        fixed = seeded()
    assert sorted(stock) == sorted(fixed)
    for key in stock:
        assert to_list(stock[key]) == to_list(fixed[key]), key
        assert stock[key].dtype == fixed[key].dtype


def test_stock_loses_eos_and_patch_restores_it_three_phases(unpatched):
    tokenizer = build_tokenizer(pad="eos")
    case = {
        "tokenizer": tokenizer,
        "form": "dict",
        "return_tensors": TENSORS,
        "pad_to_multiple_of": None,
        "spec": [(tokenizer("the cat </s> yes </s>")["input_ids"], None), (tokenizer("a </s>")["input_ids"], None)],
    }
    eos = tokenizer.eos_token_id

    def eos_labels():
        return (collate(case)["labels"] == eos).sum().item()

    assert eos_labels() == 0  # the bug
    eosfix.apply()
    assert eos_labels() == 3  # both EOS of the first (multi-turn) example, one of the second
    eosfix.revert()
    assert eos_labels() == 0  # the bug again, after revert


def _ambiguous(caught):
    return [w for w in caught if issubclass(w.category, AmbiguousPaddingWarning)]


def test_pre_padded_examples_without_mask_warn_at_the_callers_line(unpatched):
    from transformers import DataCollatorForLanguageModeling

    tokenizer = build_tokenizer(pad="eos")
    eos = tokenizer.eos_token_id
    ids = tokenizer("the cat </s> </s> </s>")["input_ids"]
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False, return_tensors=TENSORS)
    with eosfix.patched(), warnings.catch_warnings(record=True) as caught:
        # The default filter: once per calling line, through the warnings module's own registry.
        warnings.simplefilter("default")
        for _ in range(3):
            first = collator([ids])  # the line the warning must name
        line = sys._getframe().f_lineno - 1
    assert first["labels"].tolist() == [[ids[0], ids[1], eos, IGNORE, IGNORE]]
    messages = _ambiguous(caught)
    assert len(messages) == 1
    assert "attention_mask" in str(messages[0].message)
    assert (messages[0].filename, messages[0].lineno) == (__file__, line)


@pytest.mark.requires_torch
def test_ambiguous_padding_warning_names_the_loop_over_a_dataloader(unpatched):
    from torch.utils.data import DataLoader
    from transformers import DataCollatorForLanguageModeling

    tokenizer = build_tokenizer(pad="eos")
    ids = tokenizer("the cat </s> </s>")["input_ids"]
    loader = DataLoader([ids, ids], batch_size=2, collate_fn=DataCollatorForLanguageModeling(tokenizer, mlm=False))
    with eosfix.patched(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(loader)
        line = sys._getframe().f_lineno - 1
    assert len(batches) == 1
    assert [(w.filename, w.lineno) for w in _ambiguous(caught)] == [(__file__, line)]


def test_plain_examples_and_lone_edge_eos_do_not_warn(unpatched):
    tokenizer = build_tokenizer(pad="eos")
    eos = tokenizer.eos_token_id
    case = {
        "tokenizer": tokenizer,
        "form": "list",
        "return_tensors": TENSORS,
        "pad_to_multiple_of": None,
        "spec": [(tokenizer("the cat </s>")["input_ids"], None), (tokenizer("</s> a dog </s>")["input_ids"], None)],
    }
    with eosfix.patched(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = collate(case)["labels"].tolist()
    assert not _ambiguous(caught)
    # The leading EOS (a BOS that is the EOS, or a packed chunk's boundary) keeps its label: nothing was guessed.
    assert labels[1][0] == eos and labels[1][-1] == eos


def test_rule_on_plain_tensors_and_arrays():
    import numpy as np

    ids = [[5, 6, 2, 2], [2, 5, 2, 2]]
    mask = [[1, 1, 1, 0], [1, 1, 1, 0]]
    expected = [[5, 6, 2, IGNORE], [2, 5, 2, IGNORE]]
    arrays = [np.array]
    if HAS_TORCH:
        import torch

        arrays.append(torch.tensor)
    for array in arrays:
        batch = {"input_ids": array(ids), "attention_mask": array(mask)}
        padding = padding_mask(batch, [{"input_ids": row, "attention_mask": m} for row, m in zip(ids, mask)])
        labels = causal_lm_labels(batch["input_ids"], padding)
        assert labels.tolist() == expected
        assert batch["input_ids"].tolist() == ids  # the input is left alone


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_tf_call_keeps_eos_labels(padding_side, unpatched):
    """transformers 4.x only; no tox env installs TensorFlow, so this runs where a user has it."""
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed in this env")
    from transformers import DataCollatorForLanguageModeling
    from transformers.data.data_collator import DataCollatorForLanguageModeling as cls

    if "tf_call" not in vars(cls):
        pytest.skip("this transformers has no tf_call (removed in 5.0)")
    tok = build_tokenizer(pad="eos", padding_side=padding_side)
    examples = [tok("the cat </s> yes </s>"), tok("a </s>")]
    collator = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors="tf")
    stock = collator(examples)["labels"].numpy()
    with eosfix.patched():
        fixed = collator(examples)
        lists = collator([e["input_ids"] for e in examples])
    eos = tok.eos_token_id
    assert int((stock == eos).sum()) == 0
    assert isinstance(fixed["labels"], tf.Tensor)
    for batch in (fixed, lists):
        assert int((batch["labels"].numpy() == eos).sum()) == 3
