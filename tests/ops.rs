//! Per-op parity: every fixture in tests/fixtures/ops runs as a single node on the device
//! and must match the PyTorch reference within 1e-4 (max abs error) with f32 storage, and,
//! where the adapter has SHADER_F16, within 5e-3 of the reference's scale (max abs error
//! over max(1, max |reference|): f16 keeps 11 significant bits, and the inputs, weights and
//! output are each rounded once) with f16 storage. Custom harness: one reported test per
//! fixture; pass a substring to run only matching cases.

mod common;

use std::collections::BTreeMap;
use wgpu_restore::model::Node;

const TOLERANCE: f32 = 1e-4;
/// Relative to max(1, max |reference|), with f16 storage.
const TOLERANCE_F16: f32 = 5e-3;

/// (f32 max abs error, f16 error relative to the reference's scale when the adapter has f16).
fn run_case(path: &std::path::Path) -> Result<(f32, Option<f32>), String> {
    let file = common::read_fixture(path);
    let node_json = file
        .metadata
        .get("node")
        .ok_or("fixture has no `node` metadata")?;
    let node: Node = serde_json::from_str(node_json).map_err(|e| format!("node JSON: {e}"))?;
    let inputs: Vec<_> = (0..node.inputs.len())
        .map(|i| {
            let name = format!("input.{i}");
            let t = file.tensors.get(&name).ok_or(format!("missing {name}"))?;
            Ok(common::to_tensor(&name, t))
        })
        .collect::<Result<_, String>>()?;
    let expected = common::to_tensor(
        "output.0",
        file.tensors.get("output.0").ok_or("missing output.0")?,
    );
    let weights: BTreeMap<_, _> = node
        .weights
        .values()
        .map(|n| {
            let t = file.tensors.get(n).ok_or(format!("missing weight {n}"))?;
            Ok((n.clone(), t.clone()))
        })
        .collect::<Result<_, String>>()?;
    // A trivially zero output would not be a meaningful test.
    if expected.data.iter().all(|v| *v == 0.0) {
        return Err("expected output is all zeros".into());
    }
    let run = |rt: &wgpu_restore::Runtime| -> Result<f32, String> {
        let got = rt
            .run_node(&node, weights.clone(), &inputs)
            .map_err(|e| e.to_string())?;
        if got.shape != expected.shape {
            return Err(format!(
                "shape {} != expected {}",
                got.shape, expected.shape
            ));
        }
        Ok(got.max_abs_diff(&expected))
    };
    let f32_err = run(common::runtime())?;
    let scale = expected.data.iter().fold(1f32, |m, v| m.max(v.abs()));
    let f16_err = match common::runtime_f16() {
        Some(rt) => Some(run(rt)? / scale),
        None => None,
    };
    Ok((f32_err, f16_err))
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dir = common::fixtures().join("ops");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no op fixtures in {}", dir.display());
    let mut failed = Vec::new();
    let mut ran = 0;
    let mut worst: BTreeMap<String, (f32, String)> = BTreeMap::new();
    for path in &cases {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if let Some(f) = &filter {
            if !name.contains(f.as_str()) {
                continue;
            }
        }
        ran += 1;
        let t0 = std::time::Instant::now();
        let res = run_case(path);
        let ms = t0.elapsed().as_millis();
        match res {
            Ok((err, half)) if err <= TOLERANCE && half.is_none_or(|h| h <= TOLERANCE_F16) => {
                let half = half.map_or("no f16 on this adapter".to_string(), |h| {
                    format!("f16 {h:.2e} of scale")
                });
                println!("test ops::{name} ... ok (max abs err {err:.2e}; {half}; {ms} ms)");
                let file = common::read_fixture(path);
                let op: Node = serde_json::from_str(&file.metadata["node"]).unwrap();
                let e = worst.entry(op.op).or_insert((0.0, String::new()));
                if err >= e.0 {
                    *e = (err, name.clone());
                }
            }
            Ok((err, half)) => {
                println!(
                    "test ops::{name} ... FAILED (max abs err {err:.3e}, limit {TOLERANCE:e}; f16 {half:?} of scale, limit {TOLERANCE_F16:e})"
                );
                failed.push(name);
            }
            Err(e) => {
                println!("test ops::{name} ... FAILED ({e})");
                failed.push(name);
            }
        }
    }
    println!("\nworst error per op:");
    for (op, (err, case)) in &worst {
        println!("  {op:<20} {err:.2e}  ({case})");
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if filter.is_none() && ran == 0 {
        std::process::exit(1);
    }
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
