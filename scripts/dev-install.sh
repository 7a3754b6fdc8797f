#!/usr/bin/env bash
# Fast edit-test loop: build a debug wheel and install it (release builds: `pip install .`).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
maturin build -q -o "$out" "$@"
python3 -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$out"/ferrocorn-*.whl
rm -rf "$out"
