"""Run TRL's GKD (and GOLD) ``generate_on_policy_outputs`` on fixed prompts; print the outputs as JSON.

test_gkd.py runs this file in fresh interpreters with
PYTHONPATH pointing at a copy of trl patched by ``eosfix vendor`` (or at
nothing, for stock trl), with eosfix switched off, so that a patched copy is
judged as a project that vendors it would run it.

    python gkd_check.py [--gold]
"""

import argparse
import json
import sys
import warnings
from pathlib import Path

# Started by path from tests/scripts/: the shared helpers live one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import biased_generation_config, build_tokenizer, gkd_classes, gold_trainer, prompt_batch, tiny_model  # noqa: E402,E501


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
