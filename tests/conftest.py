"""Shared test helpers: an offline tokenizer, version gates, and a subprocess runner.

Nothing here downloads: tokenizers are built in memory from a word list, models
from a config.
"""

import json
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Derandomized so CI runs the same cases every time; no example database on disk.
settings.register_profile(
    "eosfix",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("eosfix")

# The envs for Python 3.9, 3.10, 3.12 and 3.13 have numpy and no torch (the local torch CPU wheel is for 3.11
# only). There, collators return numpy batches (TENSORS), and a test that needs torch is skipped with that reason
# (pytest_collection_modifyitems below), never silently.
HAS_TORCH = find_spec("torch") is not None
TENSORS = "pt" if HAS_TORCH else "np"
NO_TORCH_REASON = "needs torch, which this env does not install (a numpy-only env for another Python version)"


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_torch: skipped, with the reason, where torch is not installed")


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``requires_torch``, and ``return_tensors="pt"`` parametrizations, when torch is absent."""
    if HAS_TORCH:
        return
    # A skipif put first: pytest reports the first true skipif, and a test's own version gates (say, "removed in
    # trl 0.20" where trl is simply absent) would otherwise give the wrong reason.
    skip = pytest.mark.skipif(True, reason=NO_TORCH_REASON)
    for item in items:
        callspec = getattr(item, "callspec", None)
        if item.get_closest_marker("requires_torch") or (callspec and callspec.params.get("return_tensors") == "pt"):
            item.add_marker(skip, append=False)


WORDS = ("the", "cat", "sat", "on", "mat", "a", "dog", "ran", "###", "Question:", "Answer:", "yes", "no")


def build_tokenizer(pad="eos", padding_side="right", mask_token=False, with_attention_mask=True):
    """A WordLevel tokenizer in PreTrainedTokenizerFast; pad is "eos", "pad" or None."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(("<unk>", "<s>", "</s>", "<pad>", "<mask>", *WORDS))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    kwargs = {"mask_token": "<mask>"} if mask_token else {}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", **kwargs
    )
    if pad == "eos":
        tokenizer.pad_token = tokenizer.eos_token
    elif pad == "pad":
        tokenizer.pad_token = "<pad>"
    tokenizer.padding_side = padding_side
    if not with_attention_mask:
        tokenizer.model_input_names = [n for n in tokenizer.model_input_names if n != "attention_mask"]
    return tokenizer


@pytest.fixture
def make_tokenizer():
    return build_tokenizer


def installed(distribution):
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def version_in(distribution, specifier):
    from packaging.specifiers import SpecifierSet

    version = installed(distribution)
    return version is not None and SpecifierSet(specifier).contains(version, prereleases=True)


@pytest.fixture
def unpatched():
    """Start and end the test with eosfix reverted, whatever the test did."""
    import eosfix

    eosfix.revert()
    yield
    eosfix.revert()


def run_python(code, env=None, check=True):
    """Run ``code`` in a fresh interpreter; return the JSON object of its last stdout line.

    A fresh process is the only honest way to test import orderings: popping
    entries from sys.modules leaves classes and hooks behind.
    """
    full_env = dict(os.environ)
    # An apply() earlier in this test process may have set the switch for
    # children; a scenario starts clean unless it asks for it.
    full_env.pop("EOSFIX_AUTOPATCH", None)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else None
    return result, proc
