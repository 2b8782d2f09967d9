"""What one rank of a cluster launch sees: run by srun, sbatch and DeepSpeed's launcher in tests/test_slurm.py and
tests/test_deepspeed.py.

A user's training script that never imports eosfix: it builds a collator with
pad == eos and collates two examples with one real EOS each (numpy batches:
what is under test is whether the switch reached the process, and leaving
torch out of each rank's start keeps the many launches short). Only the ``.pth``
start-up hook of the installed wheel, switched on by ``EOSFIX_AUTOPATCH`` in
this process's environment, can have patched it. Writes
``<out>/rank-<host>-<pid>.json``: the rank, whether eosfix is loaded and
applied, the switch, the EOS labels kept, and which of the variables named on
the command line reached this process.
"""

import json
import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import build_tokenizer  # noqa: E402
from transformers import DataCollatorForLanguageModeling  # noqa: E402

# DeepSpeed's launcher adds --local_rank=N before the script's own arguments.
out, *names = [arg for arg in sys.argv[1:] if not arg.startswith("--local_rank")]
out = Path(out)
tok = build_tokenizer(pad="eos")
batch = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors="np")([tok("the cat </s>"), tok("a </s>")])
real_eos = (batch["input_ids"] == tok.eos_token_id) & (batch["attention_mask"] == 1)
eosfix = sys.modules.get("eosfix")  # loaded only by the start-up hook: this script does not import it
report = {
    "rank": int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "-1"))),
    "host": os.environ.get("SLURMD_NODENAME") or socket.gethostname(),
    "pid": os.getpid(),
    "patched": bool(eosfix and eosfix.is_applied()),
    "switch": os.environ.get("EOSFIX_AUTOPATCH"),
    "eos": int(real_eos.sum()),
    "kept": int((real_eos & (batch["labels"] == tok.eos_token_id)).sum()),
    "seen": {name: os.environ.get(name) for name in names},
}
tmp = out / f".rank-{report['host']}-{report['pid']}.json"
tmp.write_text(json.dumps(report))
tmp.rename(out / f"rank-{report['host']}-{report['pid']}.json")
