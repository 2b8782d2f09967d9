"""TRL's on-policy trainers (GKD, GOLD): the EOS the student generates keeps its label and attention.

Each test runs a tiny in-memory Llama's real ``generate`` through the
trainer's own ``generate_on_policy_outputs``, stock first (so the test shows
the bug it guards against), then with eosfix. ``sequence_bias`` makes the
random model's completions deterministic: after "cat" comes "yes", after
"dog" comes "cat", after "yes" comes the EOS, so rows stop at different steps
and the early ones are padded.
"""

import pytest
from helpers import (
    IGNORE,
    biased_generation_config,
    build_tokenizer,
    gkd_classes,
    gold_trainer,
    in_target_range,
    installed,
    json_reports,
    prompt_batch,
    start_without_eosfix,
    tiny_model,
    version_in,
)

import eosfix
from eosfix.targets import load_target

# The runtime patch's targets say where GKD (trl/trainer/, then trl/experimental/gkd/) and GOLD mask by pad id.
GKD_AFFECTED = in_target_range("trl.trainer.gkd_trainer") or in_target_range("trl.experimental.gkd.gkd_trainer")
GOLD_AFFECTED = in_target_range("trl.experimental.gold.gold_trainer")
FIXED_FROM = load_target("trl.trainer.gkd_trainer").FIXED_FROM  # trl PR #6357 fixed GKD and GOLD upstream

needs_torch = pytest.mark.skipif(installed("torch") is None, reason="torch is not installed in this env")
needs_affected_gkd = pytest.mark.skipif(
    not GKD_AFFECTED, reason="GKDTrainer exists with the pad-id masking in trl 0.11.0 to 1.8.0 only"
)


def words(tok, ids):
    return tok.convert_ids_to_tokens([int(i) for i in ids])


def check_rule(tok, inputs, input_ids, attention_mask, labels):
    """The generated rows follow the rule: real tokens labelled and attended, padding not."""
    width = inputs["prompts"].shape[1]
    completions = [words(tok, row[width:]) for row in input_ids]
    # The bias decides the completions; the EOS is followed by padding where a row stopped early.
    assert completions == [["yes", "</s>", "</s>"], ["cat", "yes", "</s>"], ["yes", "</s>", "</s>"]]
    real = [[1, 1, 0], [1, 1, 1], [1, 1, 0]]
    assert attention_mask[:, width:].tolist() == real
    expected = [[int(t) if r else IGNORE for t, r in zip(row[width:], mask)] for row, mask in zip(input_ids, real)]
    assert labels[:, width:].tolist() == expected
    # In the prompt, attention follows the prompt's own mask (the earlier turn's EOS included).
    assert attention_mask[:, :width].tolist() == inputs["prompt_attention_mask"].tolist()


@needs_torch
@needs_affected_gkd
@pytest.mark.parametrize("pad", ["eos", "pad"])
def test_gkd_generate_on_policy_outputs(pad, unpatched):
    GKDTrainer, _ = gkd_classes()
    tok = build_tokenizer(pad=pad, padding_side="left")
    model = tiny_model(len(tok))
    inputs = prompt_batch(tok)
    config = biased_generation_config(tok, do_sample=False)

    stock = GKDTrainer.generate_on_policy_outputs(model, inputs, config, tok.pad_token_id)
    with eosfix.patched():
        assert eosfix.is_applied()
        fixed = GKDTrainer.generate_on_policy_outputs(model, inputs, config, tok.pad_token_id)
    assert not eosfix.is_applied()

    assert fixed[0].tolist() == stock[0].tolist()  # the same generation
    width = inputs["prompts"].shape[1]
    eos_cells = fixed[0][:, width:] == tok.eos_token_id
    if pad == "eos":
        # Stock: every generated EOS loses its label and its attention.
        assert (stock[2][:, width:][eos_cells] == IGNORE).all() and (stock[1][:, width:][eos_cells] == 0).all()
        check_rule(tok, inputs, *fixed)
    else:
        # pad != eos: eosfix changes nothing.
        assert [t.tolist() for t in fixed] == [t.tolist() for t in stock]


def gkd_trainer(tok, tmp_path):
    from datasets import Dataset

    GKDTrainer, GKDConfig = gkd_classes()
    chats = [
        [{"role": "user", "content": "the cat"}, {"role": "assistant", "content": "yes"}],
        [
            {"role": "user", "content": "yes"},
            {"role": "assistant", "content": "no"},
            {"role": "user", "content": "a dog"},
            {"role": "assistant", "content": "cat yes"},
        ],
    ]
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% if not loop.last %} </s> {% endif %}{% endfor %}"
    config = GKDConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        lmbda=1.0,  # always on-policy
        max_new_tokens=6,
        report_to=[],
        max_steps=1,
        use_cpu=True,
        # The chats go to GKD's own ChatML collator as they are; trl < 0.13 would otherwise let SFTTrainer look
        # for a "text" column (later releases set this themselves).
        dataset_kwargs={"skip_prepare_dataset": True},
    )
    tokenizer_arg = "processing_class" if version_in("trl", ">=0.12") else "tokenizer"
    trainer = GKDTrainer(
        model=tiny_model(len(tok), seed=0),
        teacher_model=tiny_model(len(tok), seed=1),
        args=config,
        train_dataset=Dataset.from_dict({"messages": chats}),
        **{tokenizer_arg: tok},
    )
    # Deterministic completions from the trainer's own (sampling) generation config.
    trainer.generation_config.sequence_bias = biased_generation_config(tok).sequence_bias
    trainer.generation_config.eos_token_id = tok.eos_token_id
    return trainer


@needs_torch
@needs_affected_gkd
def test_gkd_training_step_labels_and_attention(tmp_path, unpatched):
    import torch

    tok = build_tokenizer(pad="eos", padding_side="left")

    def one_step():
        """Train one real step; return the inputs the loss saw."""
        trainer = gkd_trainer(tok, tmp_path)
        seen = []
        compute_loss = trainer.compute_loss

        def recording(model, inputs, *args, **kwargs):
            seen.append({key: value.clone() for key, value in inputs.items() if isinstance(value, torch.Tensor)})
            return compute_loss(model, inputs, *args, **kwargs)

        trainer.compute_loss = recording
        result = trainer.train()
        assert len(seen) == 1 and torch.isfinite(torch.tensor(result.training_loss))
        return seen[0]

    stock = one_step()
    with eosfix.patched():
        fixed = one_step()

    width = fixed["prompts"].shape[1]
    # The second prompt ("yes </s> no </s> a dog") is longer, so the first is left-padded with pad (= EOS) ids.
    assert not fixed["prompt_attention_mask"].all()
    for inputs in (stock, fixed):
        # training_step replaced the batch by the student's own generation.
        assert inputs["input_ids"].shape[1] > width
    generated_eos = fixed["input_ids"][:, width:] == tok.eos_token_id
    assert generated_eos.any(dim=1).all()
    assert (stock["labels"][:, width:][generated_eos] == IGNORE).all()
    assert (stock["attention_mask"][:, width:][generated_eos] == 0).all()
    # With eosfix: each row's first EOS is labelled and attended, what follows it is padding.
    for ids, mask, labels in zip(fixed["input_ids"], fixed["attention_mask"], fixed["labels"]):
        completion = words(tok, ids[width:])
        first = completion.index("</s>")
        assert mask[width:].tolist() == [1] * (first + 1) + [0] * (len(completion) - first - 1)
        assert labels[width + first] == tok.eos_token_id
        assert (labels[width + first + 1 :] == IGNORE).all()
    # The prompt's padding stays masked; the EOS of its earlier turns is attended again.
    assert fixed["attention_mask"][:, :width].tolist() == fixed["prompt_attention_mask"].tolist()
    prompt_eos = (fixed["prompts"] == tok.eos_token_id) & (fixed["prompt_attention_mask"] == 1)
    assert prompt_eos.any() and (stock["attention_mask"][:, :width][prompt_eos] == 0).all()


@pytest.mark.skipif(
    not version_in("trl", f">={FIXED_FROM}"), reason=f"trl < {FIXED_FROM} has the bug; this checks the fixed releases"
)
def test_fixed_trl_releases_are_not_patched(unpatched):
    import importlib

    # is_applied() needs transformers' collator imported; alone, this file imports it nowhere else.
    import transformers.data.data_collator  # noqa: F401

    from eosfix import _patcher
    from eosfix.targets import TARGETS

    eosfix.apply(children=False)
    try:
        assert eosfix.is_applied()
        for name, target_name in TARGETS.items():
            if not name.startswith("trl."):
                continue
            target = importlib.import_module(target_name)
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue  # trl/trainer/gkd_trainer.py was removed in trl 0.29.0
            assert _patcher.fixed_upstream(target)
            assert not _patcher.is_patched(target, module)
            method = vars(getattr(module, target.CLASS))["generate_on_policy_outputs"]
            assert not isinstance(method, _patcher.EOSLabelWrapper)
    finally:
        eosfix.revert()


@needs_torch
@pytest.mark.skipif(not GOLD_AFFECTED, reason="GOLDTrainer exists with the pad-id masking in trl 0.25.0 to 1.8.0 only")
@pytest.mark.parametrize("pad", ["eos", "pad"])
def test_gold_generate_on_policy_outputs(pad, tmp_path, unpatched):
    tok = build_tokenizer(pad=pad, padding_side="left")
    trainer = gold_trainer(tok, tmp_path)
    inputs = prompt_batch(tok)
    config = biased_generation_config(tok, do_sample=False)

    def generate():
        return trainer.generate_on_policy_outputs(trainer.model, inputs, config, tok.pad_token_id)

    stock = generate()
    with eosfix.patched():
        assert eosfix.is_applied()
        fixed = generate()

    assert fixed[0].tolist() == stock[0].tolist()
    assert fixed[3] == stock[3]  # prompt texts
    width = inputs["prompts"].shape[1]
    if pad == "pad":
        assert [t.tolist() for t in fixed[:3]] == [t.tolist() for t in stock[:3]] and fixed[4] == stock[4]
        return
    eos_cells = fixed[0][:, width:] == tok.eos_token_id
    assert (stock[2][:, width:][eos_cells] == IGNORE).all() and (stock[1][:, width:][eos_cells] == 0).all()
    completion_attention = fixed[1][:, width:].tolist()
    completion_labels = fixed[2][:, width:].tolist()
    real = [[1, 1, 0], [1, 1, 1], [1, 1, 0]]
    assert completion_attention == real
    ids = fixed[0][:, width:].tolist()
    assert completion_labels == [[t if r else IGNORE for t, r in zip(row, m)] for row, m in zip(ids, real)]
    if version_in("trl", ">=1.6"):
        # trl 1.6+ decodes the completion text from the labelled tokens: with eosfix it ends with the EOS.
        assert [text.split() for text in stock[4]] == [["yes"], ["cat", "yes"], ["yes"]]
        assert [text.split() for text in fixed[4]] == [["yes", "</s>"], ["cat", "yes", "</s>"], ["yes", "</s>"]]
    else:
        assert fixed[4] == stock[4]  # up to 1.5.1 the text is every completion token, padding included


def run_gkd_check(pythonpath, *flags):
    """Run gkd_check.py in a fresh interpreter with eosfix switched off; return its JSON report."""
    started = start_without_eosfix("gkd_check.py", *flags, pythonpath=[pythonpath] if pythonpath else ())
    return json_reports({"gkd_check": started})["gkd_check"]


@needs_torch
@needs_affected_gkd
def test_vendored_trl_copy_keeps_the_generated_eos(tmp_path, unpatched):
    import shutil
    from importlib.util import find_spec
    from pathlib import Path

    import torch

    from eosfix.vendoring import vendor

    source = Path(find_spec("trl").submodule_search_locations[0])
    copy = tmp_path / "vendored" / "trl"
    shutil.copytree(source, copy)
    # trl >= 0.20 has no __version__ literal: `eosfix vendor` reads the dist-info beside the copy.
    for dist_info in source.parent.glob(f"trl-{installed('trl')}.dist-info"):
        shutil.copytree(dist_info, copy.parent / dist_info.name)
    assert vendor.main([str(copy)]) == 0
    flags = ["--gold"] if GOLD_AFFECTED else []
    stock, patched = run_gkd_check(None, *flags), run_gkd_check(copy.parent, *flags)
    assert patched["trl"].startswith(str(copy)) and not stock["trl"].startswith(str(tmp_path))

    tok = build_tokenizer(pad="eos", padding_side="left")
    inputs = prompt_batch(tok)
    for name in ("gkd", "gold") if GOLD_AFFECTED else ("gkd",):
        ids, stock_mask, stock_labels = (torch.tensor(t) for t in stock[name][:3])
        assert (
            stock_labels[:, patched["prompt_width"] :][ids[:, patched["prompt_width"] :] == tok.eos_token_id] == IGNORE
        ).all()
        assert stock_mask.tolist() != patched[name][1]
        check_rule(tok, inputs, *(torch.tensor(t) for t in patched[name][:3]))
    # The vendored patch and the runtime patch agree.
    GKDTrainer, _ = gkd_classes()
    with eosfix.patched():
        runtime = GKDTrainer.generate_on_policy_outputs(
            tiny_model(len(tok)), inputs, biased_generation_config(tok, do_sample=False), tok.pad_token_id
        )
    assert [t.tolist() for t in runtime] == patched["gkd"]
