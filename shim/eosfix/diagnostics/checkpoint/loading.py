"""The checkpoint to judge, and the base model to compare it with, loaded through ``diagnostics.models.sources``.

A checkpoint is a model folder, a GGUF file, ``smollm2``, or a PEFT (LoRA) adapter folder (``adapter_config.json``)
put on its base: ``--base``, or the base path the adapter names. For an adapter, the base model is the same weights
with the adapter switched off; for a full model, ``--base`` is loaded apart.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from eosfix.diagnostics.checkpoint.data import CheckpointError
from eosfix.diagnostics.models import sources

ADAPTER_CONFIG = "adapter_config.json"
INSTALL_PEFT = "pip install peft"


@dataclass
class Loaded:
    """The checkpoint's tokenizer and (once :func:`attach` ed) model; ``base`` is what it was fine-tuned from."""

    model: Any
    tokenizer: Any
    kind: str  # "model" or "adapter"
    base: str | None = None
    notes: list = field(default_factory=list)

    def as_base(self):
        """A context manager with the adapter switched off (an adapter's base), or None for a full model."""
        return self.model.disable_adapter() if self.kind == "adapter" else None


def is_adapter(source: str) -> bool:
    return os.path.isdir(source) and os.path.isfile(os.path.join(source, ADAPTER_CONFIG))


def adapter_base(source: str, base: str | None) -> str:
    """The base model of the adapter at ``source``: ``base`` when given, else the one its config names, if here."""
    if base:
        return base
    with open(os.path.join(source, ADAPTER_CONFIG), encoding="utf-8") as handle:
        named = json.load(handle).get("base_model_name_or_path")
    if not named:
        raise CheckpointError(
            f"{source} is a PEFT adapter that names no base model; give --base PATH (its base model)"
        )
    if not os.path.exists(named) and named != sources.SMOLLM2:
        raise CheckpointError(
            f"{source} is a PEFT adapter for {named!r}, which is not here; give --base PATH (its base model)"
        )
    return _gguf_in(named)


def _gguf_in(folder: str) -> str:
    """The GGUF file of ``folder`` when it holds one and no ``config.json``, else ``folder``.

    A model loaded from a GGUF file has the file's folder as its name, and PEFT writes that into the adapter's config.
    """
    if not os.path.isdir(folder) or os.path.isfile(os.path.join(folder, "config.json")):
        return folder
    found = sorted(name for name in os.listdir(folder) if name.endswith(".gguf"))
    return os.path.join(folder, found[0]) if len(found) == 1 else folder


def load_tokenizer(*candidates: str | None) -> tuple:
    """``(tokenizer, notes)`` from the first of ``candidates`` that has one (``--tokenizer``, checkpoint, base)."""
    tried = [candidate for candidate in candidates if candidate]
    for source in tried:
        try:
            return sources.load_tokenizer(source)
        except Exception:  # no tokenizer there, in whichever way transformers says it
            continue
    raise CheckpointError(
        f"no tokenizer in {', '.join(map(repr, tried))}; give the one training used with --tokenizer"
    )


def load_model(source: str, device: str):
    """A causal LM from ``source`` (``sources.load_model``), in eval mode on ``device``."""
    try:
        model = sources.load_model(source)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot load a model from {source}: {' '.join(str(error).split())[:300]}") from None
    return model.to(device).eval()


def prepare(source: str, base: str | None, tokenizer: str | None) -> Loaded:
    """The checkpoint at ``source`` (a model, or an adapter and its base) checked, with its tokenizer; no model yet."""
    kind = "adapter" if is_adapter(source) else "model"
    if kind == "adapter":
        base = adapter_base(source, base)
        sources.require("peft", INSTALL_PEFT)
    else:
        sources.check(source, model=True)
    if base:
        sources.check(base, model=True)
    found, notes = load_tokenizer(tokenizer, source, base)
    return Loaded(None, found, kind, base, notes)


def attach(loaded: Loaded, source: str, device: str) -> None:
    """Load the model of ``loaded``: the checkpoint, or the adapter at ``source`` put on its base."""
    if loaded.kind == "model" or loaded.base is None:
        loaded.model = load_model(source, device)
        return
    from peft import PeftModel

    loaded.model = PeftModel.from_pretrained(load_model(loaded.base, device), source).to(device).eval()


@contextlib.contextmanager
def base_model(loaded: Loaded, device: str):
    """The base model to compare with: the adapter switched off, or ``--base`` loaded apart (None without one)."""
    if loaded.kind == "adapter":
        with loaded.as_base():
            yield loaded.model
    elif loaded.base:
        model = load_model(loaded.base, device)
        try:
            yield model
        finally:
            del model
    else:
        yield None
