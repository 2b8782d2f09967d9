"""The fix on a Ray cluster started apart from the driver: a remote task, and a Ray Train job running HF Trainer.

The cluster is started by the test with ``ray start --head --block`` in a
clean environment (no ``EOSFIX_*``), on loopback only, and stopped at the
end. A driver script, run as a fresh process like a user's training script,
runs ``import eosfix.autopatch`` and connects to it with ``ray.init(address=...)``:
the cluster's workers do not inherit the driver's environment. With
``runtime_env=eosfix.ray_runtime_env(...)`` every worker keeps every real EOS
label; without it (the negative case) every worker loses them, and the
``EOSLabelCallback`` on each Ray Train worker says so. The remote task builds
its collator itself; the Ray Train workers get one built in the patched
driver, which collates unpatched in a worker the switch did not reach.

Ray is installed only in the ``dist-tf523`` tox env, which sets
``TESTS_REQUIRE_RAY=1`` to turn the skip below into an error.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import clean_env

if os.environ.get("TESTS_REQUIRE_RAY"):
    import ray  # noqa: F401
else:
    pytest.importorskip("ray", reason="ray is installed only in the dist-tf523 tox env (tox run -e dist-tf523)")
    pytest.importorskip("ray.train", reason="ray[train] is installed only in the dist-tf523 tox env")

TESTS = str(Path(__file__).parent)
BIN = os.path.dirname(sys.executable)

# Ray resolves 127.0.0.1 to the machine's address unless it runs as a
# single-machine cluster; with this set every Ray process (and the torch
# process group Ray Train sets up) talks over loopback only.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}

DRIVER = f"""
import json, os, sys, tempfile
sys.path.insert(0, {TESTS!r})
import eosfix.autopatch  # the driver is patched, as a user's script would be
import eosfix
import ray
from transformers import DataCollatorForLanguageModeling

ADDRESS, MODE, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
# A runtime_env of the user's own: the workers find the test helpers through it.
users = {{"env_vars": {{"PYTHONPATH": {TESTS!r}}}}}
runtime_env = eosfix.ray_runtime_env(users) if MODE == "fixed" else users
ray.init(address=ADDRESS, runtime_env=runtime_env, log_to_driver=False)

TEXTS = ["the cat </s> yes </s>", "a </s>", "the dog sat </s>", "no </s>", "a cat ran </s>", "yes </s>",
         "the mat </s>", "a dog sat on the mat </s>"]

def coverage(batch, eos):
    real = (batch["input_ids"] == eos) & (batch["attention_mask"] == 1)
    return int(real.sum()), int((real & (batch["labels"] == eos)).sum())

def worker_state():
    patched = "eosfix" in sys.modules and sys.modules["eosfix"].is_applied()
    return {{"pid": os.getpid(), "patched": patched, "switch": os.environ.get("EOSFIX_AUTOPATCH")}}

@ray.remote
def collate_remotely():
    from helpers import build_tokenizer
    from transformers import DataCollatorForLanguageModeling
    tok = build_tokenizer(pad="eos")
    batch = DataCollatorForLanguageModeling(tok, mlm=False)([tok(t) for t in TEXTS[:2]])
    seen, labelled = coverage(batch, tok.eos_token_id)
    return {{**worker_state(), "seen": seen, "labelled": labelled, "labels": batch["labels"].tolist()}}

def train_func(config):
    import torch
    import ray.train
    from ray.train.huggingface.transformers import prepare_trainer
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments
    import eosfix

    rank = ray.train.get_context().get_world_rank()
    torch.manual_seed(0)
    # Built in the patched driver and unpickled here: the worker collates with
    # whatever its own transformers class is.
    collator = config["collator"]
    tok = collator.tokenizer
    counts = {{"seen": 0, "labelled": 0, "batches": 0}}

    def collate(examples):  # counts the EOS labels of every batch the Trainer draws
        batch = collator(examples)
        seen, labelled = coverage(batch, tok.eos_token_id)
        counts["seen"] += seen
        counts["labelled"] += labelled
        counts["batches"] += 1
        return batch

    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=32, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id))
    args = TrainingArguments(
        output_dir=os.path.join(config["out"], f"hf{{rank}}"), per_device_train_batch_size=2, max_steps=3,
        use_cpu=True, report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True,
        remove_unused_columns=False, dataloader_num_workers=0)
    callback = eosfix.EOSLabelCallback()
    trainer = Trainer(model=model, args=args, train_dataset=[dict(tok(t)) for t in TEXTS], data_collator=collate,
                      processing_class=tok, callbacks=[callback])
    trainer = prepare_trainer(trainer)
    result = trainer.train()
    report = callback.report
    with open(os.path.join(config["out"], f"rank{{rank}}.json"), "w") as out:
        json.dump({{**worker_state(), **counts, "rank": rank, "steps": result.global_step,
                   "world_size": torch.distributed.get_world_size(), "loss": result.training_loss,
                   "audit": report.to_dict() if report is not None else None}}, out)

from ray.train import RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from helpers import build_tokenizer
driver_collator = DataCollatorForLanguageModeling(build_tokenizer(pad="eos"), mlm=False)
remote = ray.get(collate_remotely.remote(), timeout=120)
TorchTrainer(
    train_func,
    train_loop_config={{"out": OUT, "collator": driver_collator}},
    scaling_config=ScalingConfig(num_workers=2, use_gpu=False),
    run_config=RunConfig(storage_path=os.path.join(OUT, "ray"), name="eosfix"),
).fit()
workers = [json.load(open(os.path.join(OUT, f"rank{{r}}.json"))) for r in (0, 1)]
tok = driver_collator.tokenizer
driver_labels = driver_collator([tok(t) for t in TEXTS[:2]])["labels"].tolist()
print(json.dumps({{"driver_patched": eosfix.is_applied(), "driver_labels": driver_labels, "remote": remote,
                  "workers": workers}}))
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env():
    return clean_env(**LOOPBACK)


def _kill_leftovers(marker):
    """SIGKILL, by pid, the processes of this cluster only: their command lines name its temp dir."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(scope="module")
def ray_cluster():
    """A one-node Ray cluster started apart from any driver: ``(address, environment for drivers)``."""
    # Short: Ray's unix socket paths live under it and must stay under 108 bytes.
    temp_dir = tempfile.mkdtemp(prefix="eosfix-ray-", dir="/tmp")
    port = _free_port()
    ports = {
        name: _free_port()
        for name in (
            "node-manager-port",
            "object-manager-port",
            "runtime-env-agent-port",
            "dashboard-agent-grpc-port",
            "dashboard-agent-listen-port",
            "metrics-export-port",
        )
    }
    log = open(os.path.join(temp_dir, "ray-start.log"), "w")
    head = subprocess.Popen(
        [
            os.path.join(BIN, "ray"),
            "start",
            "--head",
            "--block",
            "--num-cpus=2",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
            "--object-store-memory=100000000",
            *(f"--{name}={value}" for name, value in ports.items()),
        ],
        env=_clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in Path(log.name).read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed or timed out:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        # Not `ray stop`: it stops every Ray process on the machine. The head's
        # process group holds ray start, the GCS and the raylet; the workers
        # leave it but exit when their raylet does.
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=10)
        _kill_leftovers(temp_dir)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _drive(address, mode, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, str(script), address, mode, str(out)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=300,
    )
    assert proc.returncode == 0, f"driver failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))  # shown by pytest when an assertion below fails
    return result


def test_ray_runtime_env_patches_every_worker(ray_cluster, tmp_path):
    result = _drive(ray_cluster, "fixed", tmp_path)
    assert result["driver_patched"]
    assert result["driver_labels"] == [[5, 6, 2, 16, 2], [10, 2, -100, -100, -100]]
    remote = result["remote"]
    assert remote["patched"] and remote["switch"] == "1"
    assert remote["labels"] == [[5, 6, 2, 16, 2], [10, 2, -100, -100, -100]]
    workers = result["workers"]
    assert sorted(w["rank"] for w in workers) == [0, 1]
    assert len({w["pid"] for w in workers}) == 2
    for worker in workers:
        assert worker["world_size"] == 2 and worker["steps"] == 3
        assert worker["patched"] and worker["switch"] == "1"
        assert worker["batches"] >= 3 and worker["seen"] > 0
        assert worker["labelled"] == worker["seen"], worker
        assert worker["audit"]["ok"] and worker["audit"]["eos_lost"] == 0 and worker["audit"]["patched"]


def test_without_it_workers_lose_eos_labels_and_the_callback_says_so(ray_cluster, tmp_path):
    """The negative case: the driver is patched, the cluster's workers are not, and nothing but the callback tells."""
    result = _drive(ray_cluster, "stock", tmp_path)
    assert result["driver_patched"]
    assert result["driver_labels"] == [[5, 6, 2, 16, 2], [10, 2, -100, -100, -100]]
    remote = result["remote"]
    assert not remote["patched"] and remote["switch"] is None
    assert remote["labels"] == [[5, 6, -100, 16, -100], [10, -100, -100, -100, -100]]
    for worker in result["workers"]:
        assert worker["world_size"] == 2 and worker["steps"] == 3
        assert not worker["patched"] and worker["switch"] is None
        assert worker["seen"] > 0 and worker["labelled"] == 0, worker
        audit = worker["audit"]
        assert not audit["ok"] and audit["eos_lost"] > 0 and not audit["patched"]
        assert "eosfix.ray_runtime_env()" in audit["advice"]
