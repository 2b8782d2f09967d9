"""Run label cases through whichever transformers and trl come first on sys.path; print JSON.

The cases are rows of ``spec/label_rule.json`` (or random cases of the same
form). ``test_spec.py`` runs this file in fresh interpreters whose PYTHONPATH
points at patched copies (the vendor and upstream carriers) or at nothing (the
stock packages), with eosfix switched off; the collating itself is
``helpers.collate``, which test_spec.py also calls in-process for the runtime
shim. Each result is the list of label rows, or null where the case does not
apply (the completion-only collator on a trl without it).

    python spec_check.py CASES.json > results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Started by path from tests/scripts/: the shared helpers live one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import collate, completion_collator_class, load_cases  # noqa: E402


def run(cases: list[dict[str, Any]]) -> dict[str, list[list[int]] | None]:
    """Labels per ``"<case id>/<return_tensors>"``."""
    return {f"{case['id']}/{rt}": collate(case, rt) for case in cases for rt in case["return_tensors"]}


def main() -> None:
    cases = load_cases(Path(sys.argv[1])) if len(sys.argv) > 1 else load_cases()
    report = {"results": run(cases)}
    import transformers

    report["transformers"] = transformers.__file__
    cls = completion_collator_class()
    report["trl"] = sys.modules[cls.__module__].__file__ if cls is not None else None
    report["eosfix_loaded"] = any(name == "eosfix" or name.startswith("eosfix.") for name in sys.modules)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
