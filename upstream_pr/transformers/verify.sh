#!/usr/bin/env bash
# Reproduce the checks behind DESCRIPTION.md: the patch applies to the transformers 5.23.0 sdist with no fuzz, the
# regression tests fail on the pristine source and pass on the patched one, and the offline reproduction shows the
# labels before and after.
#
#   PYTHON=/path/to/venv/bin/python upstream_pr/transformers/verify.sh
#
# PYTHON needs torch, numpy, tokenizers, pytest and transformers 5.23.0's runtime dependencies; `pip` on PATH
# downloads the sdist (PyPI only, nothing from the Hub).
set -euo pipefail
python=${PYTHON:-python}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pip download -q --no-deps --no-binary :all: transformers==5.23.0 -d "$work"
tar -xzf "$work"/transformers-5.23.0.tar.gz -C "$work"
cp -r "$work/transformers-5.23.0" "$work/pristine"
mv "$work/transformers-5.23.0" "$work/patched"
(cd "$work/patched" && git apply --check -v "$here/data_collator-keep-eos-labels.patch" && git apply "$here/data_collator-keep-eos-labels.patch")

run_tests() {
    PYTHONPATH="$work/$1/src" "$python" -m pytest -q -p no:cacheprovider "$here/test_data_collator_eos_labels.py"
}
echo "== regression tests on pristine 5.23.0 (must fail)"
if run_tests pristine; then echo "FAIL: the tests pass without the fix"; exit 1; fi
echo "== regression tests on patched 5.23.0 (must pass)"
run_tests patched
for tree in pristine patched; do
    echo "== reproduction, $tree"
    PYTHONPATH="$work/$tree/src" "$python" "$here/repro_offline.py"
done
echo "verify.sh: all checks passed"
