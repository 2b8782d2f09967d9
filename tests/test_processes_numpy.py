"""Worker processes without torch: numpy batches collated in spawn and forkserver workers.

The torch DataLoader tests (test_processes.py) skip in the numpy-only envs; this runs the same start-up paths
(import at the top of ``__main__``, import inside ``main()`` reaching the children through ``EOSFIX_AUTOPATCH``
and the ``.pth`` hook, and the negative case) with a ``multiprocessing`` pool, as a numpy training loop or a
``datasets.map(num_proc=...)`` would, in every env. The collator is pickled to the workers as a DataLoader does.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import HAS_TORCH, clean_env, require_wheel, version_in

TESTS = str(Path(__file__).parent)
require_wheel()

if HAS_TORCH and not version_in("transformers", ">=5.23"):
    pytest.skip(
        "torch envs run the same start-up paths with DataLoader workers (test_processes.py); this file runs in the "
        "numpy-only envs and in the newest transformers",
        allow_module_level=True,
    )

POOL = f"""
import json, multiprocessing, sys
sys.path.insert(0, {TESTS!r})
TEXTS = ["the cat </s> yes </s>", "a </s>", "the dog sat </s>", "no </s>"]
CONTEXT, WHERE = sys.argv[1], sys.argv[2]
if WHERE == "top":
    import eosfix.autopatch

def collate_in_worker(job):
    collate, examples = job
    batch = collate(examples)
    patched = "eosfix" in sys.modules and sys.modules["eosfix"].is_applied()
    return {{key: value.tolist() for key, value in batch.items()}}, type(batch["labels"]).__module__, patched

def main():
    if WHERE == "main":
        import eosfix.autopatch
    elif WHERE == "main-no-children":
        import eosfix
        eosfix.apply(children=False)
    import numpy as np
    from transformers import DataCollatorForLanguageModeling
    from helpers import build_tokenizer
    tok = build_tokenizer(pad="eos")
    collate = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors="np")
    data = [dict(tok(text)) for text in TEXTS]
    with multiprocessing.get_context(CONTEXT).Pool(2) as pool:
        results = pool.map(collate_in_worker, [(collate, data[:2]), (collate, data[2:])], chunksize=1)
    seen = labelled = 0
    for batch, _, _ in results:
        ids, mask, labels = (np.array(batch[key]) for key in ("input_ids", "attention_mask", "labels"))
        real = (ids == tok.eos_token_id) & (mask == 1)
        seen += int(real.sum())
        labelled += int((real & (labels == tok.eos_token_id)).sum())
    import eosfix
    print(json.dumps({{"seen": seen, "labelled": labelled, "parent_patched": eosfix.is_applied(),
                      "workers_patched": [r[2] for r in results], "arrays": sorted({{r[1] for r in results}})}}))

if __name__ == "__main__":
    main()
"""


def run_pool(tmp_path, context, where):
    script = tmp_path / "train.py"
    script.write_text(POOL)
    env = clean_env()
    proc = subprocess.run(
        [sys.executable, str(script), context, where], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("context", ["spawn", "forkserver"])
@pytest.mark.parametrize("where", ["top", "main"])
def test_pool_workers_collating_numpy_batches_are_patched(tmp_path, context, where):
    result = run_pool(tmp_path, context, where)
    assert result["arrays"] == ["numpy"]
    assert result["parent_patched"] and result["workers_patched"] == [True, True]
    assert result["seen"] == 5 and result["labelled"] == 5


def test_pool_workers_without_the_switch_stay_unpatched(tmp_path):
    """The negative case: patched parent, switch off, no import in the child."""
    result = run_pool(tmp_path, "spawn", "main-no-children")
    assert result["parent_patched"] and result["workers_patched"] == [False, False]
    assert result["seen"] == 5 and result["labelled"] == 0
