"""Watch upstream: is the installed transformers or trl newer than the sweep verified, and is the bug still there?

``tools/sweep.py`` runs every release of transformers and trl in eosfix's range through the shim and the vendor
patches and writes the newest release it verified to ``verified_releases.py`` beside this module. For an installed
release newer than that, nobody has run eosfix against it yet; what can be said without a run is whether upstream
still masks labels by value (the line ``labels[labels == ...pad_token_id] = -100`` in
``DataCollatorForLanguageModeling``), read from the installed source. The notes are for users: on such a release
the doctor's verdict is its live probe's, and ``eosfix vendor --check`` proves the patch on a vendored copy.
"""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path

from eosfix._versions import installed, release
from eosfix.diagnostics.doctor.verified_releases import VERIFIED
from eosfix.vendoring.vendor import COLLATOR_FILES

# The masking line in every release the sweep covers (torch_call, numpy_call, and tf.where in 4.x tf_call).
VALUE_MASKING = re.compile(r"labels\s*==\s*(?:self\.)?(?:tokenizer\.)?pad_token_id")
# The collator source files, read without importing the packages (importing transformers costs seconds).
SOURCES = {package: path.split("/", 1)[1] for package, path in COLLATOR_FILES.items()}
CLASSES = {"transformers": "DataCollatorForLanguageModeling", "trl": "DataCollatorForCompletionOnlyLM"}


def class_source(distribution: str) -> str | None:
    """The source of the collator class ``CLASSES[distribution]`` in the installed package, or None."""
    spec = find_spec(distribution)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCES[distribution]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    start = re.search(rf"^class {CLASSES[distribution]}\b", text, re.MULTILINE)
    if start is None:
        return None
    end = re.search(r"^(?:class |def |@)", text[start.end() :], re.MULTILINE)
    return text[start.start() : start.end() + end.start()] if end else text[start.start() :]


def masking_lines(source: str) -> list[str]:
    """The lines of ``source`` that mask labels by the pad id's value."""
    return [line.strip() for line in source.splitlines() if VALUE_MASKING.search(line)]


def check() -> dict:
    """Per package: installed version, newest verified, newer?, needs a sweep?, and transformers' masking lines.

    For trl only ``DataCollatorForCompletionOnlyLM`` matters; it inherits the masking from transformers (the
    line is not in its own source), and trl 0.20.0 removed it, so a newer trl without it needs no run.
    """
    report = {}
    for distribution, span in VERIFIED.items():
        newest = span[1] if span else None  # None: the sweep has verified no release of it yet
        version = installed(distribution)
        if version is None:
            continue
        newer = newest is None or release(version) > release(newest)
        entry = {"installed": version, "newest_verified": newest, "newer": newer}
        source = class_source(distribution)
        entry["has_collator"] = source is not None
        # Only a newer release that still has the collator is something the sweep has not run yet.
        entry["needs_sweep"] = newer and source is not None
        if distribution == "transformers" and source is not None:
            entry["value_masking_lines"] = masking_lines(source)
        if not newer:
            entry["note"] = "verified by the release sweep"
        elif source is None:
            entry["note"] = f"newer than the sweep verified, but it has no {CLASSES[distribution]}: nothing to verify"
        elif distribution == "transformers" and not entry["value_masking_lines"]:
            entry["note"] = (
                "newer than the sweep verified, and the collator no longer masks labels by the pad id's value: "
                "upstream may have fixed the bug; check the live probe"
            )
        else:
            entry["note"] = (
                f"newer than the releases this eosfix was verified on (to {newest or 'none yet'}); its collator still "
                "masks labels by value, so the verdict below is the live probe's, run on this install; for a "
                "vendored copy, `eosfix vendor PATH --check` proves the patch on it"
            )
        report[distribution] = entry
    return report
