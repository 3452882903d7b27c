#!/usr/bin/env bash
# The project's whole test suite: the PyTorch reference (pytest, including the check that
# regenerating the golden fixtures changes no byte), then the Rust runtime, CLI and app
# on whatever WebGPU adapter is present (lavapipe on CI), then the web app in headless
# Chromium against the CLI (scripts/web.sh test; SKIP_WEB=1 leaves it out). Ends with one
# summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== pytest (training/)"
training/.venv/bin/python -m pytest -q training/tests 2>&1 | tee -a "$log"

echo "== cargo test"
# --lib --bins --tests: every test target; the doc example in lib.rs is `no_run` only.
cargo test --workspace --locked --lib --bins --tests 2>&1 | tee -a "$log"

web_rc=0
if [ "${SKIP_WEB:-0}" != "1" ]; then
  echo "== browser test (scripts/web.sh test)"
  bash scripts/web.sh test 2>&1 | tee -a "$log" || web_rc=$?
fi

passed=$(grep -Eo '([0-9]+) passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '([0-9]+) failed' "$log" | awk '{s += $1} END {print s + 0}')
# A browser test that could not run (its build failed) printed no count: one failure.
if [ "$web_rc" -ne 0 ] && ! grep -Eq '^web: [0-9]+ passed, [1-9][0-9]* failed' "$log"; then
  failed=$((failed + 1))
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
