"""``eosfix checkpoint``: tiny Llamas trained a few steps stock and with eosfix, saved, and told apart.

The models learn a yes/no task (``Question: cat dog Answer: yes </s>``) through transformers' collator with
pad == eos: stock, the EOS labels are lost and the model never puts the EOS after its answer; with eosfix it does.
Each model trains in well under a second; the data goes in as the command reads it from disk.
"""

import json
import subprocess
import sys

import pytest
from helpers import (
    checkpoint_tokenizer,
    clean_env,
    installed,
    tiny_model,
    train_tiny,
    version_in,
    yes_no_questions,
)

pytestmark = pytest.mark.requires_torch

LOST = "did not learn to stop: EOS labels were likely lost in training"
LEARNED = "learned to stop"
QUIET = ["--no-progress", "--json"]
NO_CHAT_TEMPLATE = "apply_chat_template arrived in transformers 4.34"


def texts(pairs):
    return [f"{question} Answer: {answer} </s>" for question, answer in pairs]


def write_lines(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``{"stock": folder, "fixed": folder, "data": folder}``: both checkpoints and their held-out questions."""
    root = tmp_path_factory.mktemp("checkpoints")
    tokenizer = checkpoint_tokenizer()
    train = texts(yes_no_questions(200, seed=0))
    folders = {}
    for name in ("stock", "fixed"):
        model = train_tiny(tiny_model(len(tokenizer), seed=0), tokenizer, train, fixed=name == "fixed")
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        folders[name] = str(root / name)
    folders["data"] = root
    return folders


@pytest.fixture(scope="module")
def prompt_completion(trained):
    pairs = yes_no_questions(30, seed=1)
    records = [{"prompt": f"{q} Answer:", "completion": f" {a} </s>"} for q, a in pairs]
    return write_lines(trained["data"] / "prompt_completion.jsonl", records)


def check(capsys, *argv):
    """Run the command in this process: ``(exit status, report or None, stderr)``."""
    import torch

    from eosfix.diagnostics.checkpoint.command import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is the fastest on a busy machine
    try:
        status = main([str(arg) for arg in argv])
    finally:
        torch.set_num_threads(threads)
    out, err = capsys.readouterr()
    return status, (json.loads(out) if "--json" in argv and out.strip() else out), err


def test_verdict_tells_stock_from_fixed(trained, prompt_completion, capsys):
    status, stock, _ = check(capsys, trained["stock"], "--data", prompt_completion, *QUIET)
    assert (status, stock["verdict"]) == (1, LOST)
    assert stock["checkpoint"]["median"] < 0.1 and stock["greedy"]["stop_rate"] < 0.5
    status, fixed, _ = check(capsys, trained["fixed"], "--data", prompt_completion, *QUIET)
    assert (status, fixed["verdict"]) == (0, LEARNED)
    assert fixed["checkpoint"]["median"] > 0.5 and fixed["greedy"]["stop_rate"] >= 0.5
    assert fixed["examples"] == fixed["checkpoint"]["answer_ends"] == 30
    assert len(fixed["samples"]) == 2 and fixed["samples"][0]["generated"].endswith("</s>")


def test_text_report(trained, prompt_completion, capsys):
    status, out, _ = check(capsys, trained["stock"], "--data", prompt_completion, "--no-progress")
    assert status == 1
    assert "P(EOS) where an answer ended" in out and "greedy stop rate on 8 prompts" in out
    assert out.strip().splitlines()[-2] == LOST and "import eosfix.autopatch" in out.splitlines()[-1]
    assert "  seconds: load " in out


def test_text_field_with_its_eos_or_appended(trained, capsys):
    pairs = yes_no_questions(20, seed=2)
    closed = write_lines(trained["data"] / "body.jsonl", [{"body": text} for text in texts(pairs)])
    status, report, _ = check(capsys, trained["fixed"], "--data", closed, "--field", "body", *QUIET)
    assert (status, report["verdict"], report["form"]) == (0, LEARNED, "text")
    bare = write_lines(trained["data"] / "bare.jsonl", [{"text": f"{q} Answer: {a}"} for q, a in pairs])
    status, _, err = check(capsys, trained["fixed"], "--data", bare, *QUIET)
    assert status == 2 and "holds the EOS token" in err and "--append-eos" in err and len(err.splitlines()) == 1
    status, report, _ = check(capsys, trained["stock"], "--data", bare, "--append-eos", *QUIET)
    assert (status, report["verdict"]) == (1, LOST)


def test_base_comparison_names_what_fine_tuning_unlearned(trained, prompt_completion, capsys):
    # The fixed model stands in for a base that stopped; the stock fine-tune lost it.
    base = ["--base", trained["fixed"]]
    status, report, _ = check(capsys, trained["stock"], "--data", prompt_completion, *base, *QUIET)
    assert status == 1 and report["base_model"]["median"] > 0.5 > report["checkpoint"]["median"]
    assert "fine-tuning unlearned it" in report["advice"]


@pytest.mark.skipif(not version_in("transformers", ">=4.34"), reason=NO_CHAT_TEMPLATE)
def test_chat_messages_rendered_with_the_template(trained, capsys):
    tokenizer = checkpoint_tokenizer()

    def chat(question, answer):
        return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]

    rendered = [tokenizer.apply_chat_template(chat(q, a), tokenize=False) for q, a in yes_no_questions(200)]
    folders = {}
    for name in ("stock", "fixed"):
        model = train_tiny(tiny_model(len(tokenizer), seed=0), tokenizer, rendered, fixed=name == "fixed")
        folders[name] = trained["data"] / f"chat-{name}"
        model.save_pretrained(folders[name])
        tokenizer.save_pretrained(folders[name])
    data = write_lines(trained["data"] / "chat.jsonl", [{"messages": chat(*p)} for p in yes_no_questions(20, 3)])
    status, stock, _ = check(capsys, folders["stock"], "--data", data, *QUIET)
    status_fixed, fixed, _ = check(capsys, folders["fixed"], "--data", data, *QUIET)
    assert (status, stock["verdict"], status_fixed, fixed["verdict"]) == (1, LOST, 0, LEARNED)
    # One answer end per chat: the assistant turn's EOS, not the user turn's.
    assert fixed["form"] == "chat" and fixed["checkpoint"]["answer_ends"] == 20


@pytest.mark.skipif(installed("datasets") is None, reason="datasets is not installed in this env")
def test_datasets_folder(trained, capsys):
    from datasets import Dataset

    pairs = yes_no_questions(12, seed=4)
    folder = trained["data"] / "saved"
    Dataset.from_dict({"text": texts(pairs)}).save_to_disk(str(folder))
    status, report, _ = check(capsys, trained["fixed"], "--data", folder, "--limit", "5", *QUIET)
    assert (status, report["verdict"], report["examples"]) == (0, LEARNED, 5)


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing model", "no model or tokenizer at"),
        ("missing field", "no field 'answer'"),
        ("missing data", "no data at"),
        ("adapter without base", "PEFT adapter for '/nowhere/base', which is not here; give --base"),
        ("adapter naming no base", "names no base model; give --base"),
    ],
)
def test_errors_are_one_line_with_status_2(trained, prompt_completion, tmp_path, capsys, case, needle):
    model, data, extra = trained["fixed"], prompt_completion, []
    if case == "missing model":
        model = tmp_path / "no-such-model"
    elif case == "missing field":
        extra = ["--field", "answer"]
    elif case == "missing data":
        data = tmp_path / "none.jsonl"
    else:
        model = tmp_path / "adapter"
        model.mkdir()
        base = "/nowhere/base" if case == "adapter without base" else None
        (model / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
    status, out, err = check(capsys, model, "--data", data, *extra, *QUIET)
    assert status == 2 and not out
    assert needle in err and len(err.strip().splitlines()) == 1 and err.startswith("eosfix checkpoint: ")


def test_judge_thresholds():
    from eosfix.diagnostics.checkpoint import verdict

    assert verdict.judge(0.99, 1.0) == verdict.judge(0.6, None) == verdict.LEARNED
    assert verdict.judge(0.0001, 0.0) == verdict.judge(0.05, None) == verdict.LOST
    # Figures that disagree, or sit between the thresholds, say nothing sure.
    assert verdict.judge(0.99, 0.0) == verdict.judge(0.01, 1.0) == verdict.judge(0.3, 0.5) == verdict.UNCLEAR


def test_demo_save_keeps_a_checkpoint_the_command_reads(trained, prompt_completion, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    from eosfix.diagnostics.demo import pretrained

    model = AutoModelForCausalLM.from_pretrained(trained["fixed"])
    pretrained.save_checkpoint(model, checkpoint_tokenizer(), str(tmp_path / "fixed"))
    status, report, _ = check(capsys, tmp_path / "fixed", "--data", prompt_completion, *QUIET)
    assert (status, report["verdict"]) == (0, LEARNED)


def test_demo_save_needs_a_real_model(capsys):
    from eosfix.diagnostics.demo.command import main

    assert main(["--save", "somewhere"]) == 2
    assert "--save keeps the checkpoints of --model runs" in capsys.readouterr().err


@pytest.mark.skipif(installed("peft") is None, reason="peft is not installed in this env (tox: trl116-tf525-wrapt2)")
def test_lora_adapter_on_its_base(trained, prompt_completion, capsys):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    tokenizer = checkpoint_tokenizer()
    base = trained["data"] / "lora-base"
    tiny_model(len(tokenizer), seed=0).save_pretrained(base)
    tokenizer.save_pretrained(base)
    train = texts(yes_no_questions(200, seed=0))
    reports = {}
    for name in ("stock", "fixed"):
        # LoRA on attention and the output layer: on a random-init base, enough to learn where the EOS goes.
        config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "lm_head"], lora_dropout=0.0)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), config)
        train_tiny(model, tokenizer, train, fixed=name == "fixed", lr=2e-2).save_pretrained(base.parent / name)
        # The adapter names its base (the folder it was loaded from): no --base needed.
        reports[name] = check(capsys, base.parent / name, "--data", prompt_completion, *QUIET)
    (stock_status, stock, _), (fixed_status, fixed, _) = reports["stock"], reports["fixed"]
    assert (stock_status, stock["verdict"], fixed_status, fixed["verdict"]) == (1, LOST, 0, LEARNED)
    assert fixed["kind"] == "adapter" and fixed["base"] == str(base)
    # The base is the adapter switched off: the same figures for both adapters, and not the fixed one's.
    assert stock["base_model"]["median"] == pytest.approx(fixed["base_model"]["median"])
    assert fixed["base_model"]["median"] < 0.5 < fixed["checkpoint"]["median"]


def test_command_line_registers_the_verb(trained, prompt_completion):
    proc = subprocess.run(
        [sys.executable, "-m", "eosfix", "checkpoint", trained["stock"], "--data", prompt_completion, "--no-progress"],
        capture_output=True,
        text=True,
        env=clean_env(HF_HUB_OFFLINE="1"),
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert LOST in proc.stdout and "Traceback" not in proc.stderr
    usage = subprocess.run([sys.executable, "-m", "eosfix", "--help"], capture_output=True, text=True, timeout=60)
    assert "checkpoint" in usage.stdout


def test_an_adapter_trained_on_a_gguf_model_finds_the_file(tmp_path):
    # PEFT writes a GGUF-loaded model's name, the file's folder, as the adapter's base.
    from eosfix.diagnostics.checkpoint import loading

    folder = tmp_path / "gguf-folder"
    folder.mkdir()
    (folder / "model.Q4_1.gguf").write_bytes(b"")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(folder)}))
    assert loading.adapter_base(str(adapter), None) == str(folder / "model.Q4_1.gguf")
    (folder / "config.json").write_text("{}")  # a model folder that also holds a GGUF file is the folder
    assert loading.adapter_base(str(adapter), None) == str(folder)
    assert loading.adapter_base(str(adapter), "given") == "given"
