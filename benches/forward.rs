//! Benchmark (not a timed test): one forward of a model at 481x321 on the chosen adapter,
//! against PyTorch running the same weights (training/graph.py) on the same machine.
//!
//! cargo bench --bench forward [-- MODEL [WIDTHxHEIGHT]]
//! Environment: WGPU_RESTORE_RUNS (default 3), WGPU_RESTORE_PYTHON (default
//! training/.venv/bin/python; `none` skips PyTorch), WGPU_RESTORE_ADAPTER, WGPU_RESTORE_BACKEND.

use std::collections::BTreeMap;
use std::time::Instant;
use wgpu_restore::{memory_report, Model, Runtime, RuntimeOptions, Shape, Tensor};

fn image(h: usize, w: usize) -> Tensor {
    let mut s: u64 = 12345;
    let data = (0..3 * h * w)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / ((1u64 << 24) as f32)
        })
        .collect();
    Tensor::new(Shape::new(3, h, w), data)
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

const PY: &str = r#"
import sys, time, json, torch
sys.path.insert(0, ".")
from training.graph import load_model_file, run_function
path, h, w, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
doc, tensors = load_model_file(path)
k = len(doc["degradations"])
S = int(doc["prompt"]["crop"]) if k else 0
img = torch.rand(1, 3, h, w)
inputs = {"image": img}
if k:
    inputs["probs"] = torch.rand(1, k, 1, 1)
crop = torch.rand(1, 3, max(S, 1), max(S, 1))
def timeit(f):
    f()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    ts.sort(); return ts[len(ts) // 2]
with torch.inference_mode():
    r = timeit(lambda: run_function(doc, tensors, "restore", inputs))
    c = timeit(lambda: run_function(doc, tensors, "classify", {"crop": crop})) if k else 0.0
print(json.dumps({"restore_s": r, "classify_crop_s": c, "threads": torch.get_num_threads()}))
"#;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let path = args
        .first()
        .cloned()
        .unwrap_or_else(|| "assets/models/allinone-small.safetensors".into());
    let (w, h) = args
        .get(1)
        .and_then(|s| s.split_once('x'))
        .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
        .unwrap_or((481usize, 321usize));
    let runs: usize = std::env::var("WGPU_RESTORE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let model = Model::load(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let k = model.degradations().len();
    println!(
        "model {path}: config {}, {:.2} M parameters",
        model.doc.config,
        model.parameter_count() as f64 / 1e6
    );
    for (mh, mw) in [(h, w), (2048, 2048)] {
        let r = memory_report(
            &model,
            "restore",
            &model.restore_inputs(mh, mw),
            wgpu_restore::Precision::F32,
        )
        .unwrap();
        println!(
            "memory restore {mw}x{mh}: peak activations {:.1} MiB in {} buffers (sum of all values {:.1} MiB), weights {:.1} MiB",
            mib(r.peak_bytes),
            r.buffers,
            mib(r.total_bytes),
            mib(r.weight_bytes)
        );
    }

    let mut opts = RuntimeOptions {
        timestamps: true,
        ..Default::default()
    };
    if let Ok(a) = std::env::var("WGPU_RESTORE_ADAPTER") {
        opts.adapter = a.parse().unwrap();
    }
    if let Ok(b) = std::env::var("WGPU_RESTORE_BACKEND") {
        opts.backend = b.parse().unwrap();
    }
    let rt = Runtime::new(opts).unwrap();
    println!("adapter {}", rt.gpu().adapter);
    let img = image(h, w);
    let probs = vec![0.5f32; k];

    let t0 = Instant::now();
    let _ = rt.restore(&model, &img, &probs).unwrap();
    println!(
        "first restore (pipelines + buffers + run): {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    let restore_s = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let _ = rt.restore(&model, &img, &probs).unwrap();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!(
        "wgpu restore {w}x{h}: {:.3} s (median of {runs})",
        restore_s
    );
    // A model without a Prompt Net (an imported Restormer or PromptIR) has no classify.
    let classify_s = match &model.doc.prompt {
        Some(p) => {
            let crop = image(p.crop, p.crop);
            let run = || {
                rt.run_function(&model, "classify", std::slice::from_ref(&crop))
                    .unwrap()
            };
            run();
            let s = median(
                (0..runs)
                    .map(|_| {
                        let t = Instant::now();
                        run();
                        t.elapsed().as_secs_f64()
                    })
                    .collect(),
            );
            println!("wgpu classify one {0}x{0} crop: {s:.3} s", p.crop);
            s
        }
        None => 0.0,
    };

    let mut inputs = vec![img.clone()];
    if k > 0 {
        inputs.push(Tensor::new(Shape::new(k, 1, 1), probs.clone()));
    }
    let (_, timings) = rt.profile_function(&model, "restore", &inputs).unwrap();
    if timings.is_empty() {
        println!("per-op times: the adapter has no timestamp queries");
    } else {
        let mut by_op: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for t in &timings {
            let e = by_op.entry(t.op.clone()).or_default();
            e.0 += t.ms;
            e.1 += 1;
        }
        let total: f64 = by_op.values().map(|v| v.0).sum();
        let mut v: Vec<_> = by_op.into_iter().collect();
        v.sort_by(|a, b| b.1 .0.partial_cmp(&a.1 .0).unwrap());
        println!("per-op GPU time, restore {w}x{h} (timestamp queries, sum {total:.1} ms):");
        for (op, (ms, n)) in v {
            println!(
                "  {op:<18} {ms:9.2} ms  {:5.1}%  ({n} nodes)",
                100.0 * ms / total
            );
        }
    }

    let python =
        std::env::var("WGPU_RESTORE_PYTHON").unwrap_or_else(|_| "training/.venv/bin/python".into());
    if python == "none" {
        return;
    }
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            PY,
            &path,
            &h.to_string(),
            &w.to_string(),
            &runs.to_string(),
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let pr = v["restore_s"].as_f64().unwrap();
            let pc = v["classify_crop_s"].as_f64().unwrap();
            println!(
                "pytorch ({} threads) restore {w}x{h}: {pr:.3} s, classify one crop: {pc:.3} s",
                v["threads"]
            );
            if k > 0 {
                println!(
                    "ratio wgpu/pytorch: restore {:.2}x, classify {:.2}x (below 1 means wgpu is faster)",
                    restore_s / pr,
                    classify_s / pc
                );
            } else {
                println!(
                    "ratio wgpu/pytorch: restore {:.2}x (below 1 means wgpu is faster)",
                    restore_s / pr
                );
            }
        }
        Ok(o) => println!(
            "pytorch comparison failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => println!("pytorch comparison skipped ({python}: {e})"),
    }
}
