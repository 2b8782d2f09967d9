#!/usr/bin/env bash
# Reproduce the checks behind DESCRIPTION.md on one transformers release: the patch applies to its sdist with no
# fuzz, the regression tests fail on the pristine source and pass on the patched one, and the offline reproduction
# shows the labels before and after.
#
#   PYTHON=/path/to/venv/bin/python upstream_pr/transformers/verify.sh [RELEASE]    # default 5.25.0
#
# The patch is made against the newest release (5.25.0) and checked on 5.23.0 too. PYTHON needs torch, numpy,
# tokenizers, pytest and the release's runtime dependencies; `pip` on PATH downloads the sdist (PyPI only,
# nothing from the Hub).
set -euo pipefail
release=${1:-5.25.0}
python=${PYTHON:-python}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pip download -q --no-deps --no-binary :all: "transformers==$release" -d "$work"
tar -xzf "$work/transformers-$release.tar.gz" -C "$work"
cp -r "$work/transformers-$release" "$work/pristine"
mv "$work/transformers-$release" "$work/patched"
# git apply refuses any hunk whose context does not match exactly (no fuzz); -v names each hunk it places.
(cd "$work/patched" && git apply --check -v "$here/data_collator-keep-eos-labels.patch" && git apply "$here/data_collator-keep-eos-labels.patch")

run_tests() {
    PYTHONPATH="$work/$1/src" "$python" -m pytest -q -p no:cacheprovider "$here/test_data_collator_eos_labels.py"
}
echo "== regression tests on pristine $release (must fail)"
if run_tests pristine; then echo "FAIL: the tests pass without the fix"; exit 1; fi
echo "== regression tests on patched $release (must pass)"
run_tests patched
for tree in pristine patched; do
    echo "== reproduction, $tree"
    PYTHONPATH="$work/$tree/src" "$python" "$here/repro_offline.py"
done
echo "verify.sh: all checks passed on transformers $release"
