#!/usr/bin/env bash
# Regenerate examples/subclassed_model_output.txt and examples/custom_layer_output.txt
# (run from the repository root, in the project's venv).
set -u
capture() {
    local out=$1; shift
    : > "$out"
    while [ $# -gt 0 ]; do
        # shellcheck disable=SC2086
        { echo "\$ shapetrace $1"; shapetrace $1 2>&1; echo "(exit $?)"; echo; } >> "$out"
        shift
    done
}
capture examples/subclassed_model_output.txt \
    "examples/subclassed_model.py:build" \
    "examples/subclassed_model.py:build --depth 0" \
    "examples/subclassed_model.py:build --channels 1" \
    "examples/subclassed_model.py:unbuilt" \
    "examples/subclassed_model.py:unbuilt --input 64x64x3 --depth 0"
capture examples/custom_layer_output.txt \
    "examples/custom_layer.py:build" \
    "examples/custom_layer.py:build --depth 0" \
    "examples/custom_layer.py:build --input 300" \
    "examples/custom_layer.py:build --size 300"
