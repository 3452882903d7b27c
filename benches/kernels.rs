//! Per-kernel timings on the current adapter (timestamp queries): the shapes that dominate
//! the `small` config at 481x321. cargo bench --bench kernels [-- FILTER]

use std::collections::BTreeMap;
use wgpu_restore::model::{HostTensor, Node};
use wgpu_restore::{Model, Runtime, RuntimeOptions, Shape, Tensor};

fn rand(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_add(99);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (((s >> 40) as f32) / ((1u64 << 24) as f32) - 0.5) * scale
        })
        .collect()
}

struct Case {
    name: &'static str,
    op: &'static str,
    attrs: serde_json::Value,
    weights: Vec<(&'static str, Vec<usize>)>,
    inputs: Vec<Shape>,
    flops: f64,
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let (h, w) = (321, 481);
    let n = (h * w) as f64;
    let conv = |k: usize, s: usize, p: usize, g: usize| serde_json::json!({"kernel": k, "stride": s, "padding": p, "groups": g});
    let cases = vec![
        Case {
            name: "conv1x1 16->170",
            op: "conv2d",
            attrs: conv(1, 1, 0, 1),
            weights: vec![("weight", vec![170, 16, 1, 1])],
            inputs: vec![Shape::new(16, h, w)],
            flops: 2.0 * 170.0 * 16.0 * n,
        },
        Case {
            name: "conv1x1 32->96",
            op: "conv2d",
            attrs: conv(1, 1, 0, 1),
            weights: vec![("weight", vec![96, 32, 1, 1])],
            inputs: vec![Shape::new(32, h, w)],
            flops: 2.0 * 96.0 * 32.0 * n,
        },
        Case {
            name: "dw3x3 170",
            op: "conv2d",
            attrs: conv(3, 1, 1, 170),
            weights: vec![("weight", vec![170, 1, 3, 3])],
            inputs: vec![Shape::new(170, h, w)],
            flops: 2.0 * 9.0 * 170.0 * n,
        },
        Case {
            name: "conv3x3 32->32",
            op: "conv2d",
            attrs: conv(3, 1, 1, 1),
            weights: vec![("weight", vec![32, 32, 3, 3])],
            inputs: vec![Shape::new(32, h, w)],
            flops: 2.0 * 9.0 * 32.0 * 32.0 * n,
        },
        Case {
            name: "conv3x3 16->8",
            op: "conv2d",
            attrs: conv(3, 1, 1, 1),
            weights: vec![("weight", vec![8, 16, 3, 3])],
            inputs: vec![Shape::new(16, h, w)],
            flops: 2.0 * 9.0 * 16.0 * 8.0 * n,
        },
        Case {
            name: "window_attention c16 w8",
            op: "window_attention",
            attrs: serde_json::json!({"heads": 1, "window": 8}),
            weights: vec![("alpha", vec![1])],
            inputs: vec![Shape::new(48, h, w)],
            flops: 4.0 * 64.0 * 16.0 * n,
        },
        Case {
            name: "channel_attention c16",
            op: "channel_attention",
            attrs: serde_json::json!({"heads": 1}),
            weights: vec![("temperature", vec![1])],
            inputs: vec![Shape::new(48, h, w)],
            flops: 4.0 * 16.0 * 16.0 * n,
        },
        Case {
            name: "layer_norm 32",
            op: "layer_norm",
            attrs: serde_json::json!({"eps": 1e-5}),
            weights: vec![("weight", vec![32]), ("bias", vec![32])],
            inputs: vec![Shape::new(32, h, w)],
            flops: 8.0 * 32.0 * n,
        },
    ];
    let rt = Runtime::new(RuntimeOptions {
        timestamps: true,
        ..Default::default()
    })
    .unwrap();
    println!("adapter {}", rt.gpu().adapter);
    for c in cases {
        if let Some(f) = &filter {
            if !c.name.contains(f.as_str()) {
                continue;
            }
        }
        let node: Node = serde_json::from_value(serde_json::json!({
            "name": c.name, "op": c.op, "inputs": (0..c.inputs.len()).map(|i| format!("input.{i}")).collect::<Vec<_>>(),
            "outputs": ["out"], "attrs": c.attrs,
            "weights": c.weights.iter().map(|(s, _)| (s.to_string(), s.to_string())).collect::<BTreeMap<_, _>>(),
        }))
        .unwrap();
        let tensors: BTreeMap<String, HostTensor> = c
            .weights
            .iter()
            .enumerate()
            .map(|(i, (s, shape))| {
                let numel = shape.iter().product();
                (
                    s.to_string(),
                    HostTensor {
                        shape: shape.clone(),
                        data: rand(numel, i as u64, 0.5),
                    },
                )
            })
            .collect();
        let chans: Vec<usize> = c.inputs.iter().map(|s| s.c).collect();
        let model = Model::single_node(node, &chans, tensors).unwrap();
        let inputs: Vec<Tensor> = c
            .inputs
            .iter()
            .enumerate()
            .map(|(i, s)| Tensor::new(*s, rand(s.numel(), 10 + i as u64, 2.0)))
            .collect();
        let _ = rt.profile_function(&model, "node", &inputs).unwrap();
        let (_, t) = rt.profile_function(&model, "node", &inputs).unwrap();
        let ms: f64 = t.iter().map(|t| t.ms).sum();
        println!(
            "{:<28} {:9.2} ms  {:7.2} GFLOP/s",
            c.name,
            ms,
            c.flops / ms / 1e6
        );
    }
}
