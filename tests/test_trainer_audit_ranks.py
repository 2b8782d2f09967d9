"""The Trainer audit across torchrun ranks: each rank audits its own first batch, only rank 0 prints the line.

The ranks get eosfix from the environment alone (``EOSFIX_AUTOPATCH`` and the wheel's ``.pth`` start-up hook),
as a launcher's children do. Kept out of tests/test_trainer_audit.py: two ranks training take ~25 s, so only
the envs that run the whole suite run this file.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import clean_env, require_wheel

pytestmark = pytest.mark.requires_torch

TEXTS = ["the cat sat </s>", "a dog ran on the mat </s>", "yes </s>", "no the cat </s>"] * 2

RANK_SCRIPT = """
import json, os, sys
sys.path.insert(0, {tests!r})
from helpers import build_tokenizer, lm_trainer
from datasets import Dataset
from transformers import TrainingArguments
tok = build_tokenizer()
data = Dataset.from_list([dict(tok(t)) for t in {texts!r}])
# CPU ranks over gloo: without use_cpu (no_cuda before it existed) the Trainer on a machine without GPUs trains
# each rank alone, as a world of one.
cpu = "use_cpu" if "use_cpu" in TrainingArguments.__dataclass_fields__ else "no_cuda"
trainer = lm_trainer({tmp!r}, tok, data, batch_size=2, ddp_backend="gloo", **{{cpu: True}})
trainer.train()
with open(os.path.join({tmp!r}, "rank%d.json" % trainer.args.process_index), "w") as out:
    json.dump({{"world": trainer.args.world_size, "step": trainer.state.global_step}}, out)
# Leave the process group before the interpreter exits, as a training script should: a gloo rank torn down at
# exit while its threads still run can abort ("terminate called without an active exception"; seen once, 4.30).
import torch.distributed as dist
if dist.is_initialized():
    dist.barrier()
    dist.destroy_process_group()
"""


def test_torchrun_ranks_print_one_line(tmp_path):
    require_wheel()
    script = tmp_path / "train.py"
    script.write_text(RANK_SCRIPT.format(tests=str(Path(__file__).parent), texts=TEXTS, tmp=str(tmp_path)))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        capture_output=True,
        text=True,
        env=clean_env(EOSFIX_AUTOPATCH="audit"),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    for rank in (0, 1):  # both ranks trained, as one job of two
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == {"world": 2, "step": 1}
    # The first batch of rank 0: two examples, one EOS each; rank 1 prints nothing.
    (line,) = [line for line in (proc.stdout + proc.stderr).splitlines() if "EOS label audit" in line]
    assert "0 of 2 real EOS the loss reads kept their label, 2 lost" in line
