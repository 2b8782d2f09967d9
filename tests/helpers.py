"""What the tests share: an offline tokenizer, a tiny model, version gates, clean environments, subprocesses,
the expected labels of the vendor cases, the spec's label cases and TRL's on-policy trainers.

Test modules import from here, never from each other or from ``conftest``; the subprocess scripts
(``*_check.py``) put this directory on ``sys.path`` and import it too, so it imports neither pytest nor
hypothesis nor eosfix at the top (a vendored copy is judged with nothing of eosfix loaded). Every subprocess
starts from :func:`clean_env`. Nothing here downloads: tokenizers are built in memory from a word list,
models from a config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from importlib.util import find_spec
from pathlib import Path
from typing import Any

# Every variable eosfix reads starts with this (eosfix.environment_variables); the tests' own switches start TESTS_.
EOSFIX_PREFIX = "EOSFIX_"

# Envs for Python versions other than 3.11 have numpy and no torch: collators there return numpy batches.
HAS_TORCH = find_spec("torch") is not None
TENSORS = "pt" if HAS_TORCH else "np"


def clean_env(**extra):
    """``os.environ`` without any ``EOSFIX_*`` variable, plus ``extra``: the start of every subprocess scenario.

    An ``apply()`` earlier in the test process may have set ``EOSFIX_AUTOPATCH``
    for children; a scenario starts clean unless it asks for a switch.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(EOSFIX_PREFIX)}
    env.update(extra)
    return env


WORDS = ("the", "cat", "sat", "on", "mat", "a", "dog", "ran", "###", "Question:", "Answer:", "yes", "no")


def build_tokenizer(pad="eos", padding_side="right", mask_token=False, with_attention_mask=True, words=WORDS):
    """A WordLevel tokenizer over ``words`` in PreTrainedTokenizerFast; pad is "eos", "pad" or None."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(("<unk>", "<s>", "</s>", "<pad>", "<mask>", *words))}
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


# The ranges below come from eosfix itself, its one source of each: the manifest of the vendor patches and the
# targets' SUPPORTED. eosfix is imported inside the functions only: the subprocess scripts that import this module
# judge vendored copies with nothing of eosfix loaded.
COMPLETION_ONLY_FILE = "trl/trainer/utils.py"  # DataCollatorForCompletionOnlyLM, up to trl 0.19


def vendor_patches(package, file=None):
    """The vendor patches ``eosfix vendor`` applies to the installed ``package`` (touching ``file`` when given).

    What the command itself would apply, not what the manifest's ranges say: on a release outside them, the
    patch of the nearest code shape where it applies and passes the label rule's cases on a scratch view of the
    installed package (``eosfix vendor --check``'s proof). Empty only where there is nothing to patch (the code
    no longer masks by value); where the command would refuse the release, this raises, so the gated tests error
    instead of skipping: a test never skips because eosfix's data has not caught up with a release.
    """
    if installed(package) is None or find_spec(package) is None:
        return []
    return [patch for patch in _vendor_selection(package) if file is None or patch.file == file]


_SELECTIONS = {}


def _vendor_selection(package):
    from eosfix.vendoring import vendor

    if package not in _SELECTIONS:
        copy = vendor.find_package(package_dir(package))
        try:
            selection = vendor.select(copy, *vendor.load_manifest())
            pending = [p for p in selection.patches if vendor.patch_state(p, copy, revert=False)[0] == "pending"]
            if selection.outside and pending:
                vendor.verify(copy, pending)
        except vendor.VendorError as refusal:
            raise RuntimeError(f"eosfix vendor refuses the installed {package} {copy.version}: {refusal}") from None
        _SELECTIONS[package] = selection.patches
    return _SELECTIONS[package]


def in_target_range(module):
    """Whether the installed release is in ``SUPPORTED`` of the runtime patch's target for ``module``."""
    from eosfix.targets import load_target

    target = load_target(module)
    return version_in(target.DISTRIBUTION, target.SUPPORTED)


def tiny_model(vocab_size, seed=None):
    """A one-layer random-init LlamaForCausalLM, built from a config (no download)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    if seed is not None:
        import torch

        torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config)


def package_dir(name):
    return Path(find_spec(name).submodule_search_locations[0])


def copy_package(name, destination, files=None):
    """Copy the installed package ``name`` into ``destination``; only ``files`` (relative) when given.

    ``__pycache__`` is copied too: copy2 keeps the sources' mtimes, so the
    cached bytecode stays valid and the subprocess does not recompile
    transformers.
    """
    source = package_dir(name)
    target = destination / name
    if files is None:
        shutil.copytree(source, target)
    else:
        for relative in files:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relative, target / relative)
    return target


def small_copy(name, destination):
    """The files ``eosfix vendor`` reads and patches, plus the dist-info a ``pip install --target`` leaves.

    Those files are real copies; every other file of the installed package is a link to it, so the copy imports
    (``eosfix vendor`` runs the label rule's cases on a copy of a release outside the patches' ranges).
    """
    files = {
        "transformers": ["__init__.py", "data/data_collator.py"],
        "trl": ["__init__.py", "trainer/utils.py", "trainer/sft_trainer.py"],
    }[name]
    # The other files the manifest patches (GKD, GOLD), where this release has them.
    from eosfix.vendoring import vendor

    patched = {p.file.split("/", 1)[1] for p in vendor.load_manifest()[0] if p.package == name}
    files += sorted(f for f in patched - set(files) if (package_dir(name) / f).is_file())
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / name
    vendor.link_tree(package_dir(name), target, {Path(f) for f in files})
    # trl >= 0.20 has no __version__ literal; the command then reads the dist-info next to the package.
    for dist_info in package_dir(name).parent.glob(f"{name}-{installed(name)}.dist-info"):
        shutil.copytree(dist_info, destination / dist_info.name)
    return target


# The label value the loss ignores (transformers' -100).
IGNORE = -100


# The labels a correct collator gives the cases of ``vendor_check.py``: what ``test_vendor.py`` and the release
# sweep (``tools/sweep.py``) judge the shim's and the vendored copies' labels by.
def own_positions(case, row):
    """The positions of the example's own tokens in its padded row."""
    n = len(case["texts"][row].split())
    width = len(case["input_ids"][row])
    return range(n) if case["padding_side"] == "right" else range(width - n, width)


def expected_lm_labels(case):
    return [
        [token if j in own_positions(case, i) else IGNORE for j, token in enumerate(ids)]
        for i, ids in enumerate(case["input_ids"])
    ]


def expected_completion_labels(case):
    """Prompt and template masked, response and its EOS labelled, padding masked."""
    labels = []
    for i, ids in enumerate(case["input_ids"]):
        words = case["texts"][i].split()
        response_at = len(words) - 1 - words[::-1].index("Answer:") + 1
        own = own_positions(case, i)
        labels.append([token if j in own and j - own.start >= response_at else IGNORE for j, token in enumerate(ids)])
    return labels


def run_eosfix(*args, env=None, pythonpath=None, code=None, prefix=None, timeout=300):
    """Run ``python -m eosfix ARGS`` in a clean environment (``code``: ``python -c CODE ARGS``; ``prefix``: that
    command instead, e.g. the ``eosfix`` script); return the finished process, output captured as text."""
    full_env = clean_env(**(env or {}))
    if pythonpath:
        full_env["PYTHONPATH"] = pythonpath
    command = prefix or ([sys.executable, "-c", code] if code else [sys.executable, "-m", "eosfix"])
    return subprocess.run([*command, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def broken_package(tmp_path, name, error):
    """A folder for PYTHONPATH holding a package ``name`` whose import raises ``error`` (source text)."""
    package = tmp_path / "broken" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"raise {error}\n")
    return str(package.parent)


def audit_stock_then_fixed(make_target, **kwargs):
    """``eosfix.audit`` of ``make_target()`` with eosfix reverted, then of a new one with eosfix applied."""
    import eosfix

    eosfix.revert()
    stock = eosfix.audit(make_target(), **kwargs)
    with eosfix.patched():
        fixed = eosfix.audit(make_target(), **kwargs)
    return stock, fixed


def run_python(code, env=None, check=True):
    """Run ``code`` in a fresh interpreter; return the JSON object of its last stdout line.

    A fresh process is the only honest way to test import orderings: popping
    entries from sys.modules leaves classes and hooks behind.
    """
    full_env = clean_env(**(env or {}))
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


def start_without_eosfix(script, *args, pythonpath=()):
    """Start ``tests/scripts/<script>`` with ``pythonpath`` in front of site-packages and eosfix switched off.

    This is how a vendored or patched copy is judged: as a project that keeps
    it would import it, with nothing of eosfix in the process.
    """
    env = clean_env(EOSFIX_DISABLE="1")
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    tests = Path(__file__).resolve().parent
    return subprocess.Popen(
        [sys.executable, str(tests / "scripts" / script), *args],
        env=env,
        cwd=tests,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def json_reports(started):
    """The last stdout line of each process in ``started`` (name -> Popen), as JSON; each exits 0 without eosfix."""
    results = {}
    for name, proc in started.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name}:\n{stderr}"
        results[name] = json.loads(stdout.strip().splitlines()[-1])
        assert results[name]["eosfix_loaded"] is False, name
    return results


def require_wheel():
    """Skip the calling test module unless eosfix's ``.pth`` start-up hook is installed (an error under tox).

    Worker and launcher tests need the hook the wheel installs; tox sets ``TESTS_REQUIRE_WHEEL=1`` so that a
    missing hook fails instead of skipping.
    """
    import sysconfig

    import pytest

    pth = Path(sysconfig.get_paths()["purelib"]) / "eosfix_autopatch.pth"
    if pth.exists():
        return pth
    if os.environ.get("TESTS_REQUIRE_WHEEL"):
        raise RuntimeError(f"TESTS_REQUIRE_WHEEL is set but {pth} is missing: eosfix is not installed from its wheel")
    pytest.skip(
        "eosfix_autopatch.pth is not installed (run under tox, which installs the wheel)", allow_module_level=True
    )


# --- label cases of spec/label_rule.json (test_spec.py, and spec_check.py in fresh interpreters) -------------

SPEC = Path(__file__).resolve().parent.parent / "spec" / "label_rule.json"


def load_cases(path: Path = SPEC) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["cases"]


def tokenizer_for(case: dict[str, Any]):
    pad = case["pad"]
    tokenizer = build_tokenizer(
        pad="pad" if pad == "pad" else "eos" if pad == "eos" else None,
        padding_side=case["padding_side"],
        with_attention_mask=case["tokenizer_attention_mask"],
    )
    if pad == "unk":
        tokenizer.pad_token = tokenizer.unk_token
    return tokenizer


def examples_for(case: dict[str, Any], return_tensors: str) -> list[Any]:
    rows = case["examples"]
    form = case["form"]
    if form == "dict+mask":
        return [{"input_ids": list(row["input_ids"]), "attention_mask": list(row["attention_mask"])} for row in rows]
    if form == "dict":
        return [{"input_ids": list(row)} for row in rows]
    if form == "list":
        return [list(row) for row in rows]
    if return_tensors == "pt":
        import torch

        return [torch.tensor(row) for row in rows]
    import numpy as np

    return [np.array(row, dtype=np.int64) for row in rows]


def completion_collator_class():
    try:
        from trl.trainer.utils import DataCollatorForCompletionOnlyLM
    except ImportError:
        return None
    return DataCollatorForCompletionOnlyLM


def collate(case: dict[str, Any], return_tensors: str) -> list[list[int]] | None:
    """The labels the installed collator gives for ``case``, or None when it does not apply here."""
    if return_tensors == "pt" and not HAS_TORCH:
        return None
    tokenizer = tokenizer_for(case)
    kwargs = {"mlm": False, "pad_to_multiple_of": case["pad_to_multiple_of"], "return_tensors": return_tensors}
    if case["collator"] == "completion":
        cls = completion_collator_class()
        if cls is None:
            return None
        kwargs.pop("return_tensors")  # torch only, and absent from its signature in old releases
        collator = cls(
            case["response_template"],
            instruction_template=case["instruction_template"],
            tokenizer=tokenizer,
            **kwargs,
        )
    else:
        from transformers import DataCollatorForLanguageModeling

        collator = DataCollatorForLanguageModeling(tokenizer, **kwargs)
    with warnings.catch_warnings():
        # trl's deprecation warning (>= 0.17), its "template not found" warning, eosfix's guess.
        warnings.simplefilter("ignore")
        labels = collator(examples_for(case, return_tensors))["labels"]
    return [[int(x) for x in row] for row in labels.tolist()]


# --- TRL's on-policy trainers (test_gkd.py, and gkd_check.py in fresh interpreters) --------------------------


def gkd_classes():
    """``(GKDTrainer, GKDConfig)`` where the release keeps them."""
    if version_in("trl", ">=0.26"):
        # trl/trainer/gkd_trainer.py only subclasses this one from 0.26.0 (with a FutureWarning) and is gone in 0.29.0.
        from trl.experimental.gkd import GKDConfig, GKDTrainer
    else:
        from trl import GKDConfig, GKDTrainer
    return GKDTrainer, GKDConfig


def biased_generation_config(tok, **options):
    from transformers import GenerationConfig

    ids = tok.convert_tokens_to_ids
    bias = {(ids("cat"), ids("yes")): 100.0, (ids("dog"), ids("cat")): 100.0, (ids("yes"), tok.eos_token_id): 100.0}
    return GenerationConfig(
        max_new_tokens=6,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        sequence_bias=bias,
        **options,
    )


def prompt_batch(tok):
    """Left-padded prompts as DataCollatorForChatML builds them; the second holds an EOS of an earlier turn."""
    import torch

    prompts = ["the cat", "yes </s> a dog", "no the cat"]
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(map(len, ids))
    return {
        "prompts": torch.tensor([[tok.pad_token_id] * (width - len(i)) + i for i in ids]),
        "prompt_attention_mask": torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids]),
    }


def gold_trainer(tok, tmp_path):
    from datasets import Dataset
    from trl.experimental.gold import GOLDConfig, GOLDTrainer

    # Already tokenized: trl 1.8.0 prepares raw text for GOLD with byte offsets that need a ByteLevel tokenizer.
    ids = tok("the cat yes </s>", add_special_tokens=False)["input_ids"]
    config = GOLDConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, report_to=[], use_cpu=True)
    return GOLDTrainer(
        model=tiny_model(len(tok), seed=0),
        teacher_model=tiny_model(len(tok), seed=1),
        args=config,
        train_dataset=Dataset.from_dict({"input_ids": [ids, ids]}),
        processing_class=tok,
    )


# --- the Trainer audit (test_trainer_audit.py, test_audit_collators.py) ----------------------------------------


def lm_trainer(tmp_path, tok, train_dataset, collator=None, trainer_class=None, max_steps=1, batch_size=4, **args):
    """A transformers ``Trainer`` (or ``trainer_class``) on a tiny model, one step by default, no hub.

    ``args`` go to ``TrainingArguments``."""
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=batch_size,
        max_steps=max_steps,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        dataloader_pin_memory=False,
        **args,
    )
    # transformers 4.46 renamed Trainer(tokenizer=) to processing_class.
    tokenizer_arg = "processing_class" if version_in("transformers", ">=4.46") else "tokenizer"
    return (trainer_class or Trainer)(
        tiny_model(len(tok), seed=0),
        args=args,
        train_dataset=train_dataset,
        data_collator=collator or DataCollatorForLanguageModeling(tok, mlm=False),
        **{tokenizer_arg: tok},
    )


# --- fine-tuned checkpoints for ``eosfix checkpoint`` (test_checkpoint.py) ------------------------------------

# Yes/no questions: the answer is "yes" when the question holds "cat". Every answer ends with the EOS.
CHECKPOINT_WORDS = (*WORDS, "user:", "assistant:", "ant", "bee", "owl", "fox")
# A chat template for the WordLevel tokenizer: every turn closes with the EOS, as SmolLM2's does.
CHECKPOINT_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def checkpoint_tokenizer():
    """The yes/no task's tokenizer, pad == eos, with a chat template."""
    tokenizer = build_tokenizer(pad="eos", words=CHECKPOINT_WORDS)
    tokenizer.chat_template = CHECKPOINT_CHAT_TEMPLATE
    return tokenizer


def yes_no_questions(count, seed=0):
    """``count`` (question, answer) pairs of the yes/no task, the same for a given seed."""
    import random

    rng = random.Random(seed)
    nouns = ("cat", "dog", "ant", "bee", "owl", "fox", "mat")
    pairs = []
    for _ in range(count):
        words = rng.sample(nouns, rng.randint(2, 4))
        pairs.append((" ".join(["Question:", *words]), "yes" if "cat" in words else "no"))
    return pairs


def train_tiny(model, tokenizer, texts, fixed, steps=60, lr=1e-2, batch_size=8, seed=0):
    """Train ``model`` on ``texts`` through transformers' collator (pad == eos), stock or with eosfix."""
    import torch

    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    # A model this small trains fastest on one thread, ten times faster than on two on a busy 2-core machine.
    torch.set_num_threads(1)
    try:
        return _train_steps(model, tokenizer, texts, fixed, steps, lr, batch_size)
    finally:
        torch.set_num_threads(threads)


def _train_steps(model, tokenizer, texts, fixed, steps, lr, batch_size):
    import contextlib

    import torch
    from transformers import DataCollatorForLanguageModeling

    import eosfix

    examples = [tokenizer(text) for text in texts]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    switch = eosfix.patched() if fixed else contextlib.nullcontext()  # acts when entered, inside unpatched()
    with eosfix.unpatched(), switch:
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
        for step in range(steps):
            start = (step * batch_size) % (len(examples) - batch_size + 1)
            batch = collator(examples[start : start + batch_size])
            loss = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
            ).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    return model.eval()


def sft_trainer(tmp_path, tok, texts):
    """trl's SFTTrainer built without a data collator, as in the trl 0.9.6 Gemma tutorial (trl < 0.16.1 then
    collates with transformers' DataCollatorForLanguageModeling)."""
    from datasets import Dataset
    from trl import SFTTrainer

    dataset = Dataset.from_dict({"text": list(texts)})
    options = {"output_dir": str(tmp_path), "per_device_train_batch_size": 4, "report_to": [], "max_steps": 1}
    sft_options = {"dataset_text_field": "text", "max_seq_length": 12, "packing": False}
    if version_in("trl", "<0.8"):
        from transformers import TrainingArguments

        return SFTTrainer(
            tiny_model(len(tok)),
            args=TrainingArguments(**options),
            train_dataset=dataset,
            tokenizer=tok,
            **sft_options,
        )
    from trl import SFTConfig

    tokenizer_arg = "processing_class" if version_in("trl", ">=0.12") else "tokenizer"
    return SFTTrainer(
        tiny_model(len(tok)),
        args=SFTConfig(**options, **sft_options),
        train_dataset=dataset,
        **{tokenizer_arg: tok},
    )
