//! The fused graphs (src/fuse.rs) compute what the graphs as written compute: the project's
//! tiny model and the imported miniature Restormers (layer norm with and without bias, conv
//! biases) and PromptIR, run both ways on the device. Each fused kernel is exercised:
//! layer norm -> 1x1 conv, 1x1 conv -> add, depthwise 3x3 -> GELU gate.

mod common;

use wgpu_restore::model::Op;
use wgpu_restore::Model;

fn kinds(model: &Model, function: &str) -> (usize, usize, usize, usize) {
    let f = model.fused(function).unwrap();
    let mut norm = 0;
    let mut res = 0;
    let mut gate = 0;
    for op in &f.function.ops {
        match op {
            Op::FusedMatmul {
                norm: n, residual, ..
            } => {
                norm += usize::from(*n != wgpu_restore::model::FusedNorm::None);
                res += usize::from(*residual);
            }
            Op::FusedDwGate { .. } => gate += 1,
            _ => {}
        }
    }
    (f.function.ops.len(), norm, res, gate)
}

#[test]
fn fused_and_unfused_graphs_agree() {
    let rt = common::runtime();
    let cases = [
        ("tiny.safetensors", true),
        ("import/restormer_with_bias.safetensors", false),
        ("import/restormer_bias_free.safetensors", false),
        ("import/promptir_tiny.safetensors", false),
    ];
    for (file, probs) in cases {
        let model = Model::load(common::fixtures().join(file)).unwrap();
        let written = model.function("restore").unwrap().def.nodes.len();
        let (nodes, norm, res, gate) = kinds(&model, "restore");
        println!(
            "{file}: {written} nodes -> {nodes}; norm+conv {norm}, conv+add {res}, dw+gate {gate}"
        );
        assert!(
            norm > 0 && res > 0 && gate > 0,
            "{file}: every pattern fuses"
        );
        assert_eq!(nodes, written - norm - res - gate);
        for (h, w) in [(24, 32), (29, 37)] {
            let img = common::test_image(h, w, 3);
            let p: Vec<f32> = if probs { vec![0.7, 0.2, 0.4] } else { vec![] };
            rt.set_fusion(false);
            let plain = rt.restore(&model, &img, &p).unwrap();
            rt.set_fusion(true);
            let fused = rt.restore(&model, &img, &p).unwrap();
            let err = fused.max_abs_diff(&plain);
            println!("  {h}x{w}: max |fused - written| {err:.2e}");
            assert!(err <= 1e-4, "{file} at {h}x{w}: {err}");
        }
        rt.release(&model);
    }
}

#[test]
fn an_add_of_two_convolutions_fuses_one() {
    // The tiny Prompt Net's bottleneck blocks add two 1x1 convolutions (expansion and
    // shortcut): only one may take the add.
    let rt = common::runtime();
    let model = Model::load(common::fixtures().join("tiny.safetensors")).unwrap();
    let (_, _, res, _) = kinds(&model, "classify");
    assert!(res > 0);
    let crop = common::test_image(32, 32, 9);
    rt.set_fusion(false);
    let plain = rt
        .run_function(&model, "classify", std::slice::from_ref(&crop))
        .unwrap();
    rt.set_fusion(true);
    let fused = rt
        .run_function(&model, "classify", std::slice::from_ref(&crop))
        .unwrap();
    let err = fused[0].max_abs_diff(&plain[0]);
    assert!(err <= 1e-5, "{err}");
    rt.release(&model);
}
