"""A real client end to end: LLaMA-Factory's ``llamafactory-cli train`` (stage ``pt``) on CPU, with no code change.

LLaMA-Factory's pre-training stage collates with transformers' ``DataCollatorForLanguageModeling(mlm=False)``,
appends the EOS to every document, and sets ``pad_token = eos_token`` when the tokenizer has none, so stock
pre-training masks every document's EOS label. Nothing in its script knows of eosfix: the environment alone
decides. ``EOSFIX_AUTOPATCH=audit``: the Trainer audit reports the loss and patches nothing. ``EOSFIX_AUTOPATCH=1``:
the patch is active and the same first batch keeps every EOS label. Runs in the ``llamafactory`` tox env only.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import WORDS, build_tokenizer, clean_env, installed, require_wheel, tiny_model

if installed("llamafactory") is None:
    if os.environ.get("TESTS_REQUIRE_LLAMAFACTORY"):
        raise RuntimeError("TESTS_REQUIRE_LLAMAFACTORY is set but llamafactory is not installed")
    pytest.skip("needs llamafactory (the llamafactory tox env installs it)", allow_module_level=True)

pytestmark = pytest.mark.requires_torch

LINE = re.compile(
    r"EOS label audit \((?P<collator>\w+), batch\): (?P<kept>\d+) of (?P<real>\d+) real EOS the loss reads kept "
    r"their label, (?P<lost>\d+) lost it(?: \((?P<unread>\d+) more in masked spans or at row starts, not read by "
    r"the loss\))?; eosfix patch (?P<patched>applied|not applied)"
)

# LLaMA-Factory's data/mm_plugin.py imports torchaudio unconditionally; the pre-training stage never uses it. The
# registry's torchaudio is a CUDA build that raises OSError at import on CPU torch (tox.ini uninstalls it), so the
# CLI gets this empty module instead.
TORCHAUDIO_STUB = (
    '"""Stands in for torchaudio, which LLaMA-Factory imports and its pre-training stage never uses."""\n'
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A tiny model and tokenizer (no pad token) saved locally, a local data set, the CLI's config."""
    root = tmp_path_factory.mktemp("llamafactory")
    tok = build_tokenizer(pad=None)
    tok.save_pretrained(root / "model")
    tiny_model(len(tok), seed=0).save_pretrained(root / "model")
    # Documents without EOS: LLaMA-Factory appends tokenizer.eos_token to each.
    words = [word for word in WORDS if word[0].isalpha()]
    documents = [" ".join(words[(i + j) % len(words)] for j in range(3 + i % 5)) for i in range(48)]
    (root / "data").mkdir()
    (root / "data" / "docs.json").write_text(json.dumps([{"text": text} for text in documents]))
    info = {"docs": {"file_name": "docs.json", "columns": {"prompt": "text"}}}
    (root / "data" / "dataset_info.json").write_text(json.dumps(info))
    (root / "stubs" / "torchaudio").mkdir(parents=True)
    (root / "stubs" / "torchaudio" / "__init__.py").write_text(TORCHAUDIO_STUB)
    return root


def train(workdir, autopatch):
    """Run ``llamafactory-cli train`` with ``EOSFIX_AUTOPATCH=autopatch``; return the audit line's numbers."""
    require_wheel()
    out = workdir / f"out-{autopatch}"
    config = {
        "model_name_or_path": str(workdir / "model"),
        "stage": "pt",
        "do_train": True,
        "finetuning_type": "full",
        "dataset": "docs",
        "dataset_dir": str(workdir / "data"),
        "template": "default",
        "cutoff_len": 64,
        "overwrite_cache": True,
        "output_dir": str(out),
        "overwrite_output_dir": True,
        "per_device_train_batch_size": 4,
        "max_steps": 2,
        "logging_steps": 1,
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "seed": 0,
    }
    import yaml  # LLaMA-Factory's own dependency

    # YAML: llamafactory 0.9.5 cannot read a .json config (json.load gets a Path). safe_dump quotes "no", which
    # bare would be YAML's False.
    path = workdir / f"pt-{autopatch}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = clean_env(
        EOSFIX_AUTOPATCH=autopatch,
        PYTHONPATH=str(workdir / "stubs"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_DATASETS_CACHE=str(workdir / "hf-cache"),
    )
    cli = Path(sys.executable).parent / "llamafactory-cli"
    proc = subprocess.run(
        [str(cli), "train", str(path)], env=env, cwd=workdir, capture_output=True, text=True, timeout=600
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Add pad token: </s>" in output  # LLaMA-Factory itself set pad = eos
    matches = [match.groupdict() for match in LINE.finditer(output)]
    assert len(matches) == 1, output[-4000:]
    return matches[0], output


def seen(line):
    """Every real EOS of the batch: those the loss reads, and those at a row start (a packed block can begin with
    the EOS that closed the previous document), whose label the loss never reads."""
    return int(line["real"]) + int(line["unread"] or 0)


def test_audit_only_then_fixed_with_no_code_change(workdir):
    stock, output = train(workdir, "audit")
    assert stock["collator"] == "DataCollatorForLanguageModeling" and stock["patched"] == "not applied"
    assert int(stock["real"]) > 0 and stock["kept"] == "0" and stock["lost"] == stock["real"], stock
    assert "EOSFIX_AUTOPATCH=1" in output

    fixed, _ = train(workdir, "1")
    # The same first batch (same data, same seed), every document's EOS the loss reads now labelled.
    assert fixed["patched"] == "applied" and seen(fixed) == seen(stock)
    assert fixed["kept"] == fixed["real"] == stock["real"] and fixed["lost"] == "0", fixed
