// Starts the app: checks for WebGPU, fetches the app (wasm) and the model with a progress
// bar, then hands both to the app's `start`. The default model is kept in the browser's
// Cache API under its content-hashed URL (and the server marks it immutable), so it is
// downloaded once; `?model=URL` loads another model file instead (left to the HTTP cache).
import init, { start, app_state, save_result } from "./wgpu_restore_app.js";

// Replaced by scripts/web.sh with the model's content-hashed file name.
const DEFAULT_MODEL = "__DEFAULT_MODEL__";
const DEFAULT_NAME = "allinone-small (default)";
const MODEL_CACHE = "wgpu-restore-models";

const loading = document.getElementById("loading");
const loadingText = document.getElementById("loading-text");
const bar = document.getElementById("loading-bar");
const message = document.getElementById("message");

function say(text) {
  message.textContent = text;
  message.hidden = false;
}

const mb = (n) => (n / 1e6).toFixed(1);

// The model's bytes, or { error } in words; `cached` uses the Cache API.
async function fetchModel(url, cached) {
  try {
    const cache = cached && "caches" in window ? await caches.open(MODEL_CACHE).catch(() => null) : null;
    const hit = cache && (await cache.match(url));
    if (hit) {
      return { bytes: new Uint8Array(await hit.arrayBuffer()) };
    }
    const response = await fetch(url);
    if (!response.ok) {
      return { error: `cannot download the model file (HTTP ${response.status} ${response.statusText})` };
    }
    const total = Number(response.headers.get("Content-Length")) || 0;
    const reader = response.body.getReader();
    const chunks = [];
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      if (total) {
        bar.max = total;
        bar.value = received;
        loadingText.textContent = `Downloading the model: ${mb(received)} of ${mb(total)} MB`;
      } else {
        loadingText.textContent = `Downloading the model: ${mb(received)} MB`;
      }
    }
    const bytes = new Uint8Array(received);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    if (cache) {
      // Older versions of the default model are of no more use.
      for (const key of await cache.keys()) {
        if (key.url !== url) await cache.delete(key);
      }
      await cache
        .put(url, new Response(bytes, { headers: { "Content-Type": "application/octet-stream" } }))
        .catch(() => {}); // out of quota: it is downloaded again next time
    }
    return { bytes };
  } catch (e) {
    return { error: `cannot download the model file (${e.message || e})` };
  }
}

async function main() {
  if (!navigator.gpu) {
    loading.hidden = true;
    say(
      "This page restores photos on your GPU through WebGPU, which this browser does not offer: " +
        "open it in a current Chrome, Edge, Firefox or Safari (on Linux, Chrome needs " +
        "chrome://flags/#enable-unsafe-webgpu turned on)."
    );
    return;
  }
  const param = new URLSearchParams(location.search).get("model");
  const modelUrl = new URL(param || DEFAULT_MODEL, location.href).href;
  const modelName = param || DEFAULT_NAME;
  loadingText.textContent = "Loading the app…";
  const [, model] = await Promise.all([init(), fetchModel(modelUrl, !param)]);
  loadingText.textContent = "Opening the GPU…";
  bar.removeAttribute("value");
  // A read-only view of the app and Save, for the page's browser test (web/test.mjs).
  window.wgpuRestore = { state: () => JSON.parse(app_state() || "null"), save: save_result };
  await start(document.getElementById("app"), model.bytes ?? null, modelName, model.error ?? null);
  loading.hidden = true;
}

main().catch((e) => {
  loading.hidden = true;
  say(`The app could not start: ${e.message || e}. Reload the page to try again.`);
  console.error(e);
});
