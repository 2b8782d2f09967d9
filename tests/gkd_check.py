"""Run TRL's GKD (and GOLD) ``generate_on_policy_outputs`` on fixed prompts; print the outputs as JSON.

test_gkd.py imports the helpers, and runs this file in fresh interpreters with
PYTHONPATH pointing at a copy of trl patched by ``eosfix vendor`` (or at
nothing, for stock trl), with eosfix switched off, so that a patched copy is
judged as a project that vendors it would run it.

    python gkd_check.py [--gold]
"""

import argparse
import json
import sys
import warnings

from helpers import build_tokenizer, tiny_model, version_in


def gkd_classes():
    """``(GKDTrainer, GKDConfig)`` where the release keeps them."""
    if version_in("trl", ">=0.26"):
        # trl/trainer/gkd_trainer.py only subclasses this one from 0.26.0 (with a FutureWarning) and is gone in 0.29.0.
        from trl.experimental.gkd import GKDConfig, GKDTrainer
    else:
        from trl import GKDConfig, GKDTrainer
    return GKDTrainer, GKDConfig


def biased_generation_config(tok, **options):
    from transformers import GenerationConfig

    ids = tok.convert_tokens_to_ids
    bias = {(ids("cat"), ids("yes")): 100.0, (ids("dog"), ids("cat")): 100.0, (ids("yes"), tok.eos_token_id): 100.0}
    return GenerationConfig(
        max_new_tokens=6,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        sequence_bias=bias,
        **options,
    )


def prompt_batch(tok):
    """Left-padded prompts as DataCollatorForChatML builds them; the second holds an EOS of an earlier turn."""
    import torch

    prompts = ["the cat", "yes </s> a dog", "no the cat"]
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(map(len, ids))
    return {
        "prompts": torch.tensor([[tok.pad_token_id] * (width - len(i)) + i for i in ids]),
        "prompt_attention_mask": torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids]),
    }


def gold_trainer(tok, tmp_path):
    from datasets import Dataset
    from trl.experimental.gold import GOLDConfig, GOLDTrainer

    # Already tokenized: trl 1.8.0 prepares raw text for GOLD with byte offsets that need a ByteLevel tokenizer.
    ids = tok("the cat yes </s>", add_special_tokens=False)["input_ids"]
    config = GOLDConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, report_to=[], use_cpu=True)
    return GOLDTrainer(
        model=tiny_model(len(tok), seed=0),
        teacher_model=tiny_model(len(tok), seed=1),
        args=config,
        train_dataset=Dataset.from_dict({"input_ids": [ids, ids]}),
        processing_class=tok,
    )


def outputs_as_lists(outputs):
    return [output.tolist() for output in outputs[:3]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gold", action="store_true", help="GOLDTrainer too (trl >= 0.25)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # trl's experimental-API warnings
    import trl

    tok = build_tokenizer(pad="eos", padding_side="left")
    inputs = prompt_batch(tok)
    config = biased_generation_config(tok, do_sample=False)
    model = tiny_model(len(tok))
    GKDTrainer, _ = gkd_classes()
    report = {
        "trl": trl.__file__,
        "prompt_width": inputs["prompts"].shape[1],
        "gkd": outputs_as_lists(GKDTrainer.generate_on_policy_outputs(model, inputs, config, tok.pad_token_id)),
    }
    if args.gold:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            trainer = gold_trainer(tok, tmp)
            outputs = trainer.generate_on_policy_outputs(trainer.model, inputs, config, tok.pad_token_id)
        report["gold"] = outputs_as_lists(outputs) + [list(outputs[4])]
    report["eosfix_loaded"] = any(name == "eosfix" or name.startswith("eosfix.") for name in sys.modules)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
