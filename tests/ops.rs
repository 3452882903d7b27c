//! Per-op parity: every fixture in tests/fixtures/ops runs as a single node on the device
//! and must match the PyTorch reference within 1e-4 (max abs error). Custom harness: one
//! reported test per fixture; pass a substring to run only matching cases.

mod common;

use std::collections::BTreeMap;
use wgpu_restore::model::Node;

const TOLERANCE: f32 = 1e-4;

fn run_case(path: &std::path::Path) -> Result<f32, String> {
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
    let got = common::runtime()
        .run_node(&node, weights, &inputs)
        .map_err(|e| e.to_string())?;
    if got.shape != expected.shape {
        return Err(format!(
            "shape {} != expected {}",
            got.shape, expected.shape
        ));
    }
    // A trivially zero output would not be a meaningful test.
    if expected.data.iter().all(|v| *v == 0.0) {
        return Err("expected output is all zeros".into());
    }
    Ok(got.max_abs_diff(&expected))
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
            Ok(err) if err <= TOLERANCE => {
                println!("test ops::{name} ... ok (max abs err {err:.2e}, {ms} ms)");
                let file = common::read_fixture(path);
                let op: Node = serde_json::from_str(&file.metadata["node"]).unwrap();
                let e = worst.entry(op.op).or_insert((0.0, String::new()));
                if err >= e.0 {
                    *e = (err, name.clone());
                }
            }
            Ok(err) => {
                println!("test ops::{name} ... FAILED (max abs err {err:.3e} > {TOLERANCE:e})");
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
