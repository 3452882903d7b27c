#!/usr/bin/env bash
# The project's whole test suite: the PyTorch reference (pytest, including the check that
# regenerating the golden fixtures changes no byte), then the Rust runtime on whatever
# WebGPU adapter is present (lavapipe on CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"

echo "== pytest (training/)"
training/.venv/bin/python -m pytest -q training/tests

echo "== cargo test"
cargo test --workspace --locked 2>&1
