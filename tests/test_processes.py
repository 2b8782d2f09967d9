"""The patch in every process: DataLoader workers (spawn, forkserver), torchrun and accelerate ranks.

These need the package installed from its wheel: the ``eosfix_autopatch.pth``
start-up hook only exists in site-packages. tox installs the wheel and sets
``TESTS_REQUIRE_WHEEL=1``, which turns the skip below into a failure so that
CI cannot pass without running them.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import clean_env, installed, require_wheel

TESTS = str(Path(__file__).parent)
require_wheel()

# The collated batches: two EOS per pad = eos batch of two examples, one of them mid-sequence.
COMMON = f"""
import json, os, sys
sys.path.insert(0, {TESTS!r})
TEXTS = ["the cat </s> yes </s>", "a </s>", "the dog sat </s>", "no </s>"]

def coverage(batches, eos):
    seen = labelled = 0
    for batch in batches:
        real = (batch["input_ids"] == eos) & (batch["attention_mask"] == 1)
        seen += int(real.sum())
        labelled += int((real & (batch["labels"] == eos)).sum())
    return seen, labelled

def collator():
    from transformers import DataCollatorForLanguageModeling
    from helpers import build_tokenizer
    tok = build_tokenizer(pad="eos")
    return tok, DataCollatorForLanguageModeling(tok, mlm=False)
"""

DATALOADER = (
    COMMON
    + """
CONTEXT, WHERE = sys.argv[1], sys.argv[2]
if WHERE == "top":
    import eosfix.autopatch

def main():
    if WHERE == "main":
        import eosfix.autopatch
    elif WHERE == "main-no-children":
        import eosfix
        eosfix.apply(children=False)
    from torch.utils.data import DataLoader
    tok, collate = collator()
    data = [dict(tok(text)) for text in TEXTS]
    loader = DataLoader(data, batch_size=2, num_workers=2, multiprocessing_context=CONTEXT, collate_fn=collate)
    seen, labelled = coverage(loader, tok.eos_token_id)
    import eosfix
    print(json.dumps({"seen": seen, "labelled": labelled, "parent_patched": eosfix.is_applied()}))

if __name__ == "__main__":
    main()
"""
)

RANK = (
    COMMON
    + """
import torch
import torch.distributed as dist

def main():
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    tok, collate = collator()
    seen, labelled = coverage([collate([tok(TEXTS[2 * rank]), tok(TEXTS[2 * rank + 1])])], tok.eos_token_id)
    totals = torch.tensor([seen, labelled])
    dist.all_reduce(totals)
    patched = "eosfix" in sys.modules and sys.modules["eosfix"].is_applied()
    with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as out:
        json.dump({"rank": rank, "seen": seen, "labelled": labelled, "patched": patched,
                   "total": totals.tolist()}, out)
    dist.destroy_process_group()

main()
"""
)


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(args, env, timeout=300):
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.requires_torch
@pytest.mark.parametrize("context", ["spawn", "forkserver"])
@pytest.mark.parametrize("where", ["top", "main"])
def test_dataloader_workers_are_patched(tmp_path, context, where):
    script = tmp_path / "train.py"
    script.write_text(DATALOADER)
    result = json.loads(run([sys.executable, str(script), context, where], clean_env()).stdout.splitlines()[-1])
    assert result["parent_patched"]
    assert result["seen"] == 5 and result["labelled"] == 5


@pytest.mark.requires_torch
def test_workers_without_the_switch_stay_unpatched(tmp_path):
    """The negative case: patched parent, switch off, no import in the child."""
    script = tmp_path / "train.py"
    script.write_text(DATALOADER)
    result = json.loads(
        run([sys.executable, str(script), "spawn", "main-no-children"], clean_env()).stdout.splitlines()[-1]
    )
    assert result["parent_patched"]
    assert result["seen"] == 5 and result["labelled"] == 0


def test_disable_wins_over_autopatch_switch(tmp_path):
    proc = run(
        [
            sys.executable,
            "-c",
            "import json, transformers.data.data_collator, eosfix; print(json.dumps(eosfix.is_applied()))",
        ],
        clean_env(EOSFIX_AUTOPATCH="1", EOSFIX_DISABLE="1"),
    )
    assert json.loads(proc.stdout) is False


def test_switch_off_costs_no_import():
    proc = run(
        [sys.executable, "-c", "import sys, json; print(json.dumps(sorted(m for m in sys.modules if 'eosfix' in m)))"],
        clean_env(),
    )
    assert json.loads(proc.stdout) == []


@pytest.mark.requires_torch
@pytest.mark.parametrize("switch", ["1", None])
def test_torchrun_ranks(tmp_path, switch):
    script = tmp_path / "rank.py"
    script.write_text(RANK)
    env = clean_env(**({"EOSFIX_AUTOPATCH": switch} if switch else {}))
    run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(tmp_path),
        ],
        env,
    )
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for result in ranks:
        assert result["seen"] > 0
        if switch:
            assert result["patched"] and result["labelled"] == result["seen"]
        else:  # the script never imports eosfix: without the switch every rank is stock
            assert not result["patched"] and result["labelled"] == 0
    assert ranks[0]["total"] == ranks[1]["total"]  # the ranks really talked over gloo


@pytest.mark.requires_torch
@pytest.mark.skipif(installed("accelerate") is None, reason="accelerate is not installed in this env")
def test_accelerate_launch_ranks(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK)
    env = clean_env(EOSFIX_AUTOPATCH="1", ACCELERATE_CONFIG_FILE=str(tmp_path / "none.yaml"))
    # --cpu with 2 processes asks for MPI; --multi_gpu starts torch's elastic
    # launcher, which runs CPU ranks over gloo when there is no GPU.
    # Its default port (29500) is shared by every launch on the machine: tox
    # runs two envs at once, so ask for a port nobody holds.
    run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--main_process_port",
            str(free_port()),
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            str(script),
            str(tmp_path),
        ],
        env,
    )
    for r in (0, 1):
        result = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert result["patched"] and result["seen"] > 0 and result["labelled"] == result["seen"]
