"""Write the vendor patches and the upstream patch from one statement of the label rule.

Each patch is the diff between a pristine upstream file (from an installed release of each code shape)
and that file with the rule's code put in. The code below is the only place the patched code is written,
so the carriers cannot drift apart; the DEP-3 headers live in the existing patch files and are kept. It
also writes upstream_pr/transformers/eos_label_cases.json, the rows of spec/label_rule.json that concern
transformers' collator, which the upstream PR's tests read.

    python tools/make_patches.py TRANSFORMERS_5X_DIR TRANSFORMERS_4X_DIR TRL_0_7_DIR TRL_0_13_DIR [UPSTREAM_DIR]
    python tools/make_patches.py --upstream UPSTREAM_DIR

UPSTREAM_DIR is the transformers the upstream patch is made from, the newest release (a pull request goes
against main, and the newest release is the closest thing to it); by default the 5.x one. ``--upstream`` writes
only the upstream patch and its cases, leaving the vendor patches (and the sweep rows made with them) alone.

Each DIR is an installed package directory (e.g. .tox/<env>/lib/python3.11/site-packages/transformers) of
a release of that shape: transformers 5.x (torch_call, numpy_call), transformers 4.x (tf_call), trl 0.7-0.12
and trl 0.13-0.19. Each DIR's version must lie in the range patches/manifest.json gives the patch made from it
(read with ``eosfix vendor``'s own reader), and every patch written must be named there.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "shim"))
from eosfix.vendoring.vendor import COLLATOR_FILES, load_manifest, read_version  # noqa: E402

PATCHES = REPO / "shim" / "eosfix" / "vendoring" / "patches"
UPSTREAM = REPO / "upstream_pr" / "transformers" / "data_collator-keep-eos-labels.patch"
UPSTREAM_CASES = REPO / "upstream_pr" / "transformers" / "eos_label_cases.json"

RULE_COMMENT = """\
# The pad id is also the EOS id: mask it only where it pads the batch, so that every
# real EOS keeps its label and the model learns to stop (#23530). Padding is where the
# attention mask is 0, or, without one, outside each example's length on the padding side."""


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line if line.strip() else line for line in text.splitlines(keepends=True))


def _by_length(target: str) -> str:
    return f"""\
for i, example in enumerate(examples):
    length = len(example["input_ids"] if isinstance(example, Mapping) else example)
    if self.tokenizer.padding_side == "right":
        {target}[i, :length] = False
    else:
        {target}[i, {target}.shape[1] - length :] = False
"""


def _pad_is_eos_branch(by_length: str) -> str:
    """The rule's code, common to every branch: a pad id that is the EOS is padding only where the batch is padded."""
    return f"""\
    padding = labels == self.tokenizer.pad_token_id
    if self.tokenizer.pad_token_id == self.tokenizer.eos_token_id:
{_indent(RULE_COMMENT, 8)}
        if "attention_mask" in batch:
            padding &= batch["attention_mask"] == 0
        else:
{_indent(by_length, 12)}"""


def _collator_block(copy: str) -> tuple[str, str]:
    """(stock, patched) label code of torch_call (copy=".clone()") or numpy_call (copy="np.copy")."""
    first = 'labels = batch["input_ids"].clone()' if copy == "clone" else 'labels = np.copy(batch["input_ids"])'
    stock = f"""\
{first}
if self.tokenizer.pad_token_id is not None:
    labels[labels == self.tokenizer.pad_token_id] = -100
batch["labels"] = labels
"""
    patched = f"""\
{first}
if self.tokenizer.pad_token_id is not None:
{_pad_is_eos_branch(_by_length("padding"))}    labels[padding] = -100
batch["labels"] = labels
"""
    return _indent(stock, 12), _indent(patched, 12)


_TF_BY_LENGTH = """\
lengths = [len(e["input_ids"] if isinstance(e, Mapping) else e) for e in examples]
is_token = tf.sequence_mask(lengths, maxlen=tf.shape(labels)[1])
if self.tokenizer.padding_side != "right":
    is_token = tf.reverse(is_token, axis=[1])
padding &= ~is_token
"""


def _tf_block() -> tuple[str, str]:
    stock = """\
labels = batch["input_ids"]
if self.tokenizer.pad_token_id is not None:
    # Replace self.tokenizer.pad_token_id with -100
    labels = tf.where(labels == self.tokenizer.pad_token_id, -100, labels)
"""
    patched = f"""\
labels = batch["input_ids"]
if self.tokenizer.pad_token_id is not None:
    # Replace self.tokenizer.pad_token_id with -100
{_pad_is_eos_branch(_TF_BY_LENGTH)}    labels = tf.where(padding, -100, labels)
"""
    return _indent(stock, 12), _indent(patched, 12)


def _trl_block() -> tuple[str, str]:
    stock = """\
batch = super().torch_call(examples)

"""
    patched = """\
batch = super().torch_call(examples)

pad_token_id = self.tokenizer.pad_token_id
if not self.mlm and pad_token_id is not None and pad_token_id == self.tokenizer.eos_token_id:
    # Give the examples' EOS their labels back before the templates are searched (trl#1191):
    # the base collator masked every pad id, and with pad_token == eos_token that is every
    # EOS (transformers#23530). A pad id is the example's own where the attention mask is
    # not 0, or, without one, inside the example's length on the padding side. On a
    # patched transformers this changes nothing.
    from collections.abc import Mapping

    own = batch["input_ids"] == pad_token_id
    if "attention_mask" in batch:
        own &= batch["attention_mask"] != 0
    else:
        for i, example in enumerate(examples):
            length = len(example["input_ids"] if isinstance(example, Mapping) else example)
            if self.tokenizer.padding_side == "right":
                own[i, length:] = False
            else:
                own[i, : own.shape[1] - length] = False
    batch["labels"][own] = pad_token_id

"""
    return _indent(stock, 8), _indent(patched, 8)


def _replace_once(text: str, old: str, new: str, where: str) -> str:
    if text.count(old) != 1:
        raise SystemExit(f"make_patches: the stock code was found {text.count(old)} times in {where}, not once")
    return text.replace(old, new)


def _diff(package_dir: Path, relative: str, blocks: list[tuple[str, str]], prefix: str) -> str:
    pristine = (package_dir / relative).read_text(encoding="utf-8")
    patched = pristine
    for stock, new in blocks:
        patched = _replace_once(patched, stock, new, str(package_dir / relative))
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp, "a"), Path(tmp, "b")
        a.write_text(pristine, encoding="utf-8")
        b.write_text(patched, encoding="utf-8")
        # Hunk headers name the enclosing def, as git does for Python files in a repository.
        attributes = Path(tmp, "attributes")
        attributes.write_text("* diff=python\n", encoding="utf-8")
        proc = subprocess.run(
            [
                "git",
                "-c",
                f"core.attributesFile={attributes}",
                "diff",
                "--no-index",
                "--no-prefix",
                "-U3",
                str(a),
                str(b),
            ],
            capture_output=True,
            text=True,
        )
    body = proc.stdout.split("\n@@", 1)[1]
    path = f"{prefix}{relative}"
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@{body}"


def _with_header(name: Path, diff: str) -> str:
    """The existing DEP-3 header of ``name`` (everything before the diff) followed by ``diff``."""
    text = name.read_text(encoding="utf-8")
    header = text.split("diff --git ", 1)[0]
    return header + diff


def _check_sources(sources: dict[Path, Path]) -> None:
    """Each patch is in the manifest, and the release it is made from lies in the manifest's range for it."""
    by_name = {patch.name: patch for patch in load_manifest(PATCHES)[0]}
    for path, directory in sources.items():
        patch = by_name.get(path.name)
        if patch is None:
            raise SystemExit(f"make_patches: {path.name} is not in {PATCHES / 'manifest.json'}")
        version = read_version(directory, patch.package)
        if not patch.versions.contains(version, prereleases=True):
            raise SystemExit(
                f"make_patches: {directory} holds {patch.package} {version}, outside {patch.versions}, the range "
                f"{PATCHES / 'manifest.json'} gives {path.name}; pass a release of that shape"
            )


# Inside the package directory, as the patches name them.
COLLATOR, TRL_COLLATOR = (COLLATOR_FILES[package].split("/", 1)[1] for package in ("transformers", "trl"))


def _both_blocks() -> list[tuple[str, str]]:
    return [_collator_block("clone"), _collator_block("np.copy")]


def write_upstream(transformers_dir: Path) -> None:
    """The upstream patch, made from ``transformers_dir`` with the same code as the vendor patch, and its cases."""
    UPSTREAM.write_text(_with_header(UPSTREAM, _diff(transformers_dir, COLLATOR, _both_blocks(), "src/transformers/")))
    print(f"wrote {UPSTREAM.relative_to(REPO)}")
    UPSTREAM_CASES.write_text(upstream_cases_json(), encoding="utf-8")
    print(f"wrote {UPSTREAM_CASES.relative_to(REPO)}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--upstream"]:
        write_upstream(Path(argv[1]))
        return 0
    tf5, tf4, trl07, trl013 = (Path(arg) for arg in argv[:4])
    upstream = Path(argv[4]) if len(argv) > 4 else tf5
    collator = COLLATOR
    both = _both_blocks()
    # patch -> (the release it is made from, the file, the code blocks, the path prefix of the diff)
    made = {
        "transformers-lm-collator-labels-by-position.patch": (tf5, collator, both, "transformers/"),
        "transformers-lm-collator-labels-by-position-tf.patch": (tf4, collator, [_tf_block()], "transformers/"),
        "trl-completion-only-labels-by-position-0.7.patch": (trl07, TRL_COLLATOR, [_trl_block()], "trl/"),
        "trl-completion-only-labels-by-position-0.13.patch": (trl013, TRL_COLLATOR, [_trl_block()], "trl/"),
    }
    _check_sources({PATCHES / name: source[0] for name, source in made.items()})
    outputs = {PATCHES / name: _diff(*source) for name, source in made.items()}
    for path, diff in outputs.items():
        path.write_text(_with_header(path, diff), encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    write_upstream(upstream)
    return 0


def upstream_cases_json() -> str:
    """The spec's rows for DataCollatorForLanguageModeling, with the labels the upstream patch gives."""
    import json

    spec = json.loads((REPO / "shim" / "eosfix" / "spec" / "label_rule.json").read_text(encoding="utf-8"))
    keys = ("id", "about", "pad", "padding_side", "form", "tokenizer_attention_mask", "pad_to_multiple_of")
    rows = []
    for case in spec["cases"]:
        # Rows where the carriers differ on purpose (the shim's guess) are left out: the PR's tests must
        # pass with every carrier, and they are no behaviour to pin upstream.
        if case["collator"] != "lm" or case.get("carriers"):
            continue
        row = {key: case[key] for key in keys}
        row["return_tensors"] = case["return_tensors"]
        row["examples"] = case["examples"]
        row["labels"] = case["labels"]
        rows.append(row)
    return "[\n" + ",\n".join("  " + json.dumps(row) for row in rows) + "\n]\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
