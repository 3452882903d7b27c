#!/usr/bin/env bash
# The app in the browser (app/src/web/, web/): build the wasm bundle into target/web/, serve
# it on http://127.0.0.1:8080 (PORT overrides), or build it and run its browser test
# (web/test.mjs: headless Chromium on WebGPU, against the CLI's output for the same file).
#
#   bash scripts/web.sh build | serve | test | tools
#
# `tools` installs what the others need and builds nothing (scripts/setup.sh runs it).
# Needs: the wasm32-unknown-unknown target, wasm-bindgen-cli at the exact version of the
# wasm-bindgen crate in Cargo.lock (both installed here when missing); for `test`, Debian's
# chromium (scripts/setup.sh installs it), Node.js and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/web
WASM=target/wasm32-unknown-unknown/release/wgpu_restore_app.wasm
MODEL=assets/models/allinone-small.safetensors

# The wasm-bindgen version the app is built against: the CLI must be exactly this one.
bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
  fi
  local want have
  want=$(bindgen_version)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    echo "web: installing wasm-bindgen-cli $want"
    # --locked first; its lock file names a webpki-roots release that some registries no
    # longer serve, and then the exact version is built with fresh dependencies (the
    # network features that need them are not used here).
    cargo install --locked wasm-bindgen-cli --version "$want" --no-default-features 2>/dev/null ||
      cargo install wasm-bindgen-cli --version "$want" --no-default-features
  fi
}

build() {
  tools
  echo "web: building the wasm bundle"
  # The app's library as a cdylib for the web only (natively it stays an rlib).
  cargo rustc --locked --release --target wasm32-unknown-unknown -p wgpu-restore-app --lib \
    --crate-type cdylib
  rm -rf "$OUT"
  mkdir -p "$OUT/models"
  wasm-bindgen --target web --no-typescript --out-dir "$OUT" "$WASM"
  # The model under a name that changes with its content: cached for good by the browser.
  local hash name
  hash=$(sha256sum "$MODEL" | cut -c1-16)
  name="models/allinone-small.$hash.safetensors"
  cp "$MODEL" "$OUT/$name"
  cp web/index.html "$OUT/"
  sed "s|__DEFAULT_MODEL__|$name|" web/main.js > "$OUT/main.js"
  # Precompressed copies for browsers that take gzip (web/serve.py picks them).
  for f in "$OUT"/*.wasm "$OUT"/*.js; do gzip -9 -k -f "$f"; done
  local raw gz
  raw=$(stat -c %s "$OUT/wgpu_restore_app_bg.wasm")
  gz=$(stat -c %s "$OUT/wgpu_restore_app_bg.wasm.gz")
  echo "web: $OUT ready; wasm $((raw / 1024)) KiB ($((gz / 1024)) KiB gzipped), model $(($(stat -c %s "$MODEL") / 1024)) KiB"
}

npm_modules() {
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
}

case "${1:-}" in
  tools)
    tools
    npm_modules
    ;;
  build)
    build
    ;;
  serve)
    build
    exec python3 web/serve.py --dir "$OUT" --port "${PORT:-8080}"
    ;;
  test)
    build
    # The reference: the native CLI on this machine's adapter (lavapipe on CI).
    cargo build --locked --bin wgpu-restore
    export WGPU_RESTORE_CLI=${WGPU_RESTORE_CLI:-target/debug/wgpu-restore}
    [ -d web/node_modules/playwright-core ] || npm_modules
    node web/test.mjs
    ;;
  *)
    echo "usage: bash scripts/web.sh build|serve|test|tools" >&2
    exit 2
    ;;
esac
