// The web app's browser test (run by `bash scripts/web.sh test` after a build): serves
// target/web/ on 127.0.0.1, drives Debian's chromium (WebGPU on SwiftShader, no GPU
// needed) with playwright-core, and checks the page against the native CLI on this
// machine's adapter (lavapipe on CI):
//
// 1. rainy.png dropped on the page is restored; Save (PNG) downloads pixels within 2/255 of
//    the CLI's `restore` output, PSNR >= 45 dB between the two, and the probabilities are
//    within 0.01 of the CLI's `classify --json`. The page's screenshot is written to
//    target/web-test/ (and to docs/web-screenshot.png with UPDATE_SCREENSHOT=1).
// 2. A corrupt file gives its one-line error in the page, and a good file dropped after it
//    is still restored.
// 3. A reload takes the model from the browser's cache: the server sees one request for it.
// 4. `?model=` with a file that fails validation shows the desktop app's one-line error.
// 5. Without WebGPU (navigator.gpu removed), the page says so in one sentence.
//
// Prints one line per case, `web: N passed, M failed` at the end, and the timings.

import { chromium } from "playwright-core";
import { PNG } from "pngjs";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WEB = path.join(ROOT, "target/web");
const OUT = path.join(ROOT, "target/web-test");
const CLI = path.resolve(ROOT, process.env.WGPU_RESTORE_CLI || "target/debug/wgpu-restore");
const SAMPLE = path.join(ROOT, "assets/samples/rainy.png");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// SwiftShader is a CPU rasterizer: a 384x255 restoration takes minutes on 2 cores.
const RESTORE_TIMEOUT_MS = Number(process.env.WEB_TEST_TIMEOUT_S || 900) * 1000;
const MAX_ABS = 2; // of 255
const MIN_PSNR = 45;
const MAX_PROB_DIFF = 0.01;

fs.mkdirSync(OUT, { recursive: true });
const results = [];
const timings = {};

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function runCase(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${e.message}`);
  }
}

// The CLI, failing the test run if it fails where it should not.
function cli(args, { mayFail = false } = {}) {
  const r = spawnSync(CLI, args, { cwd: ROOT, encoding: "utf8" });
  if (!mayFail && r.status !== 0) {
    throw new Error(`${path.basename(CLI)} ${args.join(" ")} failed: ${r.stderr}`);
  }
  return r;
}

function readPng(file) {
  return PNG.sync.read(fs.readFileSync(file));
}

// Max abs difference (0-255) and PSNR (dB, peak 255) over the RGB samples of two PNGs.
function compare(a, b) {
  check(a.width === b.width && a.height === b.height, `sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  let max = 0;
  let se = 0;
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(a.data[i + c] - b.data[i + c]);
      max = Math.max(max, d);
      se += d * d;
      n++;
    }
  }
  const mse = se / n;
  return { max, psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse) };
}

// A PNG of the top-left w x h of `png`.
function crop(png, w, h) {
  const out = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    png.data.copy(out.data, y * w * 4, y * png.width * 4, (y * png.width + w) * 4);
  }
  return PNG.sync.write(out);
}

async function startServer() {
  const server = spawn("python3", [path.join(ROOT, "web/serve.py"), "--dir", WEB, "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = [];
  server.stderr.setEncoding("utf8");
  server.stderr.on("data", (d) => log.push(...d.split("\n").filter(Boolean)));
  server.stdout.setEncoding("utf8");
  const [line] = await once(server.stdout, "data");
  // However the test ends, the server goes with it.
  process.on("exit", () => server.kill());
  const url = line.match(/serving (\S+)/)?.[1];
  check(url, `the server did not start: ${line}`);
  return { server, url, log };
}

// The app's view (see app/src/web/hook.rs), or null before the app has drawn.
const state = (page) => page.evaluate(() => (window.wgpuRestore ? window.wgpuRestore.state() : null));

async function waitFor(page, what, pred, timeout = RESTORE_TIMEOUT_MS) {
  const start = Date.now();
  for (;;) {
    const s = await state(page);
    if (s && pred(s)) return s;
    if (Date.now() - start > timeout) {
      throw new Error(`timed out waiting for ${what}; last state: ${JSON.stringify(s)}`);
    }
    await page.waitForTimeout(200);
  }
}

// Drops a file on the app's canvas as a visitor's drag and drop does.
async function drop(page, name, bytes) {
  const dt = await page.evaluateHandle(
    ({ name, b64 }) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], name, { type: name.endsWith(".png") ? "image/png" : "" }));
      return dt;
    },
    { name, b64: Buffer.from(bytes).toString("base64") },
  );
  await page.dispatchEvent("#app", "dragover", { dataTransfer: dt });
  await page.dispatchEvent("#app", "drop", { dataTransfer: dt });
}

async function main() {
  check(fs.existsSync(path.join(WEB, "index.html")), `${WEB} is missing: run bash scripts/web.sh build`);
  check(fs.existsSync(CLI), `${CLI} is missing: cargo build --bin wgpu-restore`);

  // The reference, timed as a visitor would run it.
  const cliOut = path.join(OUT, "cli-rainy.png");
  let t = Date.now();
  cli(["restore", SAMPLE, "-o", cliOut, "--overwrite", "-q"]);
  timings.cli_restore_s = (Date.now() - t) / 1000;
  const cliProbs = JSON.parse(cli(["classify", SAMPLE, "--json"]).stdout)[0].probs;

  const { server, url, log } = await startServer();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--enable-unsafe-webgpu",
      "--enable-features=Vulkan",
      "--use-vulkan=swiftshader",
      "--use-webgpu-adapter=swiftshader",
      // The page's compositing on SwiftShader too: without a GL for it, a WebGPU canvas
      // draws (the test's state shows it) but is missing from screenshots.
      "--use-angle=swiftshader",
      "--enable-unsafe-swiftshader",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    const page = await context.newPage();
    const console_ = [];
    page.on("console", (m) => console_.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => console_.push(`pageerror: ${e.message}`));

    await runCase("rainy.png restored in the page matches the CLI (pixels, probabilities)", async () => {
      const t0 = Date.now();
      await page.goto(url);
      const ready = await waitFor(page, "the app", (s) => s.device !== undefined, 120_000);
      timings.page_ready_s = (Date.now() - t0) / 1000;
      check(ready.device.Ok, `no device in the page: ${JSON.stringify(ready.device)}`);
      timings.adapter = `${ready.device.Ok.adapter || "(unnamed)"} (${ready.device.Ok.backend}, ${ready.device.Ok.precision})`;
      // The runtime works with the adapter's real limits, not WebGPU's defaults.
      const real = await page.evaluate(async () => {
        // Chrome answers a plain request on SwiftShader only once; then the fallback's.
        const a = (await navigator.gpu.requestAdapter()) || (await navigator.gpu.requestAdapter({ forceFallbackAdapter: true }));
        return {
          max_storage_buffer_binding_size: a.limits.maxStorageBufferBindingSize,
          max_buffer_size: a.limits.maxBufferSize,
          max_compute_workgroups_per_dimension: a.limits.maxComputeWorkgroupsPerDimension,
        };
      });
      for (const [k, v] of Object.entries(real)) {
        check(ready.device.Ok[k] === v, `device limit ${k} is ${ready.device.Ok[k]}, the adapter's is ${v}`);
      }
      timings.limits = real;
      const t1 = Date.now();
      await drop(page, "rainy.png", fs.readFileSync(SAMPLE));
      const s = await waitFor(page, "rainy.png", (s) => s.items.length === 1 && s.items[0].state !== "busy");
      timings.drop_to_restored_s = (Date.now() - t1) / 1000;
      timings.load_to_first_restored_s = (Date.now() - t0) / 1000;
      const item = s.items[0];
      check(item.state === "done", `rainy.png: ${item.status}; errors: ${s.errors.join(" | ")}`);
      timings.web_restore_s = item.seconds;
      // Probabilities, in the model's order.
      const diffs = s.degradations.map((n, k) => Math.abs(item.probs[k] - cliProbs[n]));
      timings.prob_max_diff = Math.max(...diffs);
      timings.probs = { web: item.probs, cli: s.degradations.map((n) => cliProbs[n]) };
      check(timings.prob_max_diff <= MAX_PROB_DIFF, `probabilities differ by ${timings.prob_max_diff}: ${JSON.stringify(timings.probs)}`);
      // Save, as the visitor's download.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.evaluate(() => window.wgpuRestore.save("png")),
      ]);
      check(download.suggestedFilename() === "rainy-restored.png", `download named ${download.suggestedFilename()}`);
      const webOut = path.join(OUT, "web-rainy.png");
      await download.saveAs(webOut);
      const d = compare(readPng(webOut), readPng(cliOut));
      timings.pixel_max_abs_diff = d.max;
      timings.psnr_db = d.psnr === Infinity ? "inf" : Number(d.psnr.toFixed(2));
      check(d.max <= MAX_ABS, `max abs difference ${d.max}/255 > ${MAX_ABS}/255`);
      check(d.psnr >= MIN_PSNR, `PSNR ${d.psnr.toFixed(2)} dB < ${MIN_PSNR} dB`);
      // The status bar says where it went; then the picture for the README.
      await waitFor(page, "the saved notice", (s) => s.items[0].saved_to === "rainy-restored.png", 10_000);
      await page.mouse.move(640, 790);
      await page.waitForTimeout(500);
      await page.screenshot({ path: path.join(OUT, "web-screenshot.png") });
      if (process.env.UPDATE_SCREENSHOT === "1") {
        fs.copyFileSync(path.join(OUT, "web-screenshot.png"), path.join(ROOT, "docs/web-screenshot.png"));
      }
    });

    await runCase("a corrupt file gives a one-line error; a good file after it is restored", async () => {
      const before = (await state(page)).items.length;
      await drop(page, "corrupt.png", Buffer.from("\x89PNG\r\n\x1a\nthis is not an image"));
      let s = await waitFor(page, "corrupt.png", (s) => s.items.length === before + 1 && s.items[before].state !== "busy");
      check(s.items[before].state === "failed", `corrupt.png: ${s.items[before].status}`);
      const line = s.errors.at(-1) || "";
      check(line.startsWith("corrupt.png: cannot open: "), `the error line: ${JSON.stringify(line)}`);
      check(!line.includes("\n"), `the error spans lines: ${JSON.stringify(line)}`);
      // A small crop of the sample, so that this case stays short.
      const t1 = Date.now();
      await drop(page, "rainy-crop.png", crop(readPng(SAMPLE), 96, 64));
      s = await waitFor(page, "rainy-crop.png", (s) => s.items.length === before + 2 && s.items[before + 1].state !== "busy");
      const good = s.items[before + 1];
      check(good.state === "done", `rainy-crop.png after the corrupt file: ${good.status}`);
      check(good.width === 96 && good.height === 64, `rainy-crop.png is ${good.width}x${good.height}`);
      timings.crop_96x64_s = (Date.now() - t1) / 1000;
    });

    await runCase("a reload takes the model from the browser's cache", async () => {
      await page.reload();
      await waitFor(page, "the app after a reload", (s) => s.device !== undefined, 120_000);
      const fetched = log.filter((l) => /"GET \/models\/allinone-small\.[0-9a-f]{16}\.safetensors/.test(l));
      check(fetched.length === 1, `the model was fetched ${fetched.length} times: ${fetched.join(" | ")}`);
    });

    await runCase("?model= with an invalid file shows the desktop app's one-line error", async () => {
      // The first KiB of the real model: a cut-off file, as a broken download leaves it.
      const bad = fs.readFileSync(path.join(ROOT, "assets/models/allinone-small.safetensors")).subarray(0, 1024);
      const badPath = path.join(OUT, "bad-model.safetensors");
      fs.writeFileSync(badPath, bad);
      // The desktop and the CLI read it with the same Model::load; the CLI names the problem.
      const r = cli(["classify", "--model", badPath, SAMPLE], { mayFail: true });
      const problem = r.stderr.split("invalid model file: ")[1]?.trim();
      check(r.status !== 0 && problem, `the CLI accepted the bad model: ${r.stderr}`);
      await page.route("**/bad-model.safetensors", (route) => route.fulfill({ body: bad }));
      await page.goto(`${url}?model=bad-model.safetensors`);
      const s = await waitFor(page, "the app with a bad model", (s) => s.device !== undefined, 120_000);
      const want = `No model: bad-model.safetensors: ${problem}`;
      check(s.errors.includes(want), `errors ${JSON.stringify(s.errors)}, expected ${JSON.stringify(want)}`);
    });
    await context.close();

    await runCase("without WebGPU the page says so in one sentence", async () => {
      const ctx = await browser.newContext();
      const p = await ctx.newPage();
      await p.addInitScript(() => delete Navigator.prototype.gpu);
      await p.goto(url);
      const msg = p.locator("#message");
      await msg.waitFor({ state: "visible", timeout: 30_000 });
      const text = await msg.innerText();
      check(/WebGPU/.test(text) && /Chrome/.test(text), `the message: ${text}`);
      check(text.trim().split(/[.!?](\s|$)/).filter((x) => x && x.trim()).length === 1, `more than one sentence: ${text}`);
      await ctx.close();
    });
    if (results.some(([, ok]) => !ok)) {
      console.log(`page console (last 30 lines):\n  ${console_.slice(-30).join("\n  ")}`);
    }
  } finally {
    await browser.close();
    server.kill();
  }
  console.log(`timings: ${JSON.stringify(timings)}`);
  const passed = results.filter(([, ok]) => ok).length;
  const failed = results.length - passed;
  console.log(`web: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.log(`FAIL the browser test could not run: ${e.stack || e}`);
  console.log("web: 0 passed, 1 failed");
  process.exit(1);
});
