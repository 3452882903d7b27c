#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine: the software Vulkan
# driver (lavapipe) so the WGSL runtime runs without a GPU, the Python venv of the
# PyTorch reference (training/.venv), and what the web app's build and browser test need
# (Debian's chromium, the wasm32 target, wasm-bindgen-cli, web/node_modules; SKIP_WEB=1
# leaves them out). Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

web=1
[ "${SKIP_WEB:-0}" = "1" ] && web=0
apt_pkgs=(mesa-vulkan-drivers libvulkan1 libegl1 libgl1-mesa-dri libegl-mesa0)
# Chromium runs WebGPU on its own software Vulkan (SwiftShader): no GPU needed.
[ "$web" = 1 ] && apt_pkgs+=(chromium)
[ "$web" = 1 ] && ! command -v npm >/dev/null && apt_pkgs+=(nodejs npm)
need_apt=()
for pkg in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "${SKIP_PYTHON:-0}" != "1" ]; then
  if [ ! -x training/.venv/bin/python ]; then
    echo "setup: creating training/.venv"
    python3 -m venv training/.venv
  fi
  if ! training/.venv/bin/python -c "import torch, safetensors, pytest, scipy, PIL, tqdm" 2>/dev/null; then
    echo "setup: installing training/requirements.txt (PyTorch is a ~3 GB download)"
    training/.venv/bin/pip install -q --disable-pip-version-check -r training/requirements.txt
  fi
fi
if [ "$web" = 1 ]; then
  bash scripts/web.sh tools
fi
echo "setup: done"
