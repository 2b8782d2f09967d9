"""Run inside one throwaway env of ``tools/sweep.py``: stock and shim results for one release, as JSON.

    python sweep_probe.py transformers|trl TESTS_DIR

Prints one JSON object: the doctor's report (``eosfix.diagnostics.doctor.command.diagnose()``, what
``eosfix doctor --json`` prints), the code shape of the collator, and the labels of ``tests/scripts/vendor_check.py``'s
cases, stock (eosfix reverted) and with the shim applied. The vendored copy is judged afterwards in a separate
interpreter with no eosfix loaded (``vendor_check.py`` itself), so this file never touches it.
"""

import hashlib
import inspect
import json
import os
import sys
import warnings


def source_hash(*functions):
    text = "".join(inspect.getsource(function) for function in functions)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def main():
    kind, tests = sys.argv[1], sys.argv[2]
    sys.path[:0] = [tests, os.path.join(tests, "scripts")]
    warnings.simplefilter("ignore")
    import transformers
    import vendor_check
    from helpers import expected_completion_labels, expected_lm_labels
    from transformers.data.data_collator import DataCollatorForLanguageModeling

    import eosfix
    from eosfix.diagnostics.doctor import command as doctor
    from eosfix.diagnostics.doctor import releases

    eosfix.revert()
    owner = vars(DataCollatorForLanguageModeling)
    report = {"doctor": doctor.diagnose(), "upstream": releases.check(), "transformers": transformers.__version__}
    eosfix.revert()
    if kind == "transformers":
        report["shape"] = source_hash(owner["torch_call"], owner["numpy_call"])
        report["masking_lines"] = releases.masking_lines(inspect.getsource(DataCollatorForLanguageModeling))

        def cases():
            return {**vendor_check.lm_cases("pt"), **vendor_check.lm_cases("np")}
    else:
        from trl.trainer.utils import DataCollatorForCompletionOnlyLM

        report["shape"] = source_hash(vars(DataCollatorForCompletionOnlyLM)["torch_call"])
        report["masking_lines"] = []

        def cases():
            return vendor_check.trl_cases()

    report["stock"] = cases()
    # What a correct collator gives each case, for the sweep's judgement (which runs outside this env).
    expected = expected_lm_labels if kind == "transformers" else expected_completion_labels
    report["expected"] = {name: expected(case) for name, case in report["stock"].items()}
    eosfix.apply(children=False)
    report["shim"] = cases()
    eosfix.revert()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
