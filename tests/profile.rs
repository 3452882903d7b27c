//! Per-op timestamps (when the adapter has them) and the pipeline cache.

mod common;

use wgpu_restore::{Model, Runtime, RuntimeOptions, Shape, Tensor};

#[test]
fn timestamps_per_node_and_same_outputs() {
    let rt = Runtime::new(RuntimeOptions {
        timestamps: true,
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let m = Model::load(common::fixtures().join("tiny.safetensors")).unwrap();
    let crop = common::test_image(32, 32, 7);
    let plain = rt
        .run_function(&m, "classify", std::slice::from_ref(&crop))
        .unwrap();
    let (outs, timings) = rt.profile_function(&m, "classify", &[crop]).unwrap();
    assert_eq!(outs, plain);
    if !rt.gpu().timestamps {
        eprintln!("adapter {} has no timestamp queries", rt.gpu().adapter);
        assert!(timings.is_empty());
        return;
    }
    // One timing per node of the function the runtime runs: the fused one.
    let fused = m.fused("classify").unwrap();
    let nodes = &fused.function.def.nodes;
    assert_eq!(timings.len(), nodes.len());
    for (t, n) in timings.iter().zip(nodes) {
        assert_eq!(t.node, n.name);
        assert!(t.ms >= 0.0 && t.ms.is_finite());
    }
    assert!(timings.iter().map(|t| t.ms).sum::<f64>() > 0.0);
}

#[test]
fn pipelines_are_created_once() {
    let rt = Runtime::new(RuntimeOptions {
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let m = Model::load(common::fixtures().join("tiny.safetensors")).unwrap();
    let img = common::test_image(12, 20, 3);
    let p = Tensor::new(Shape::new(3, 1, 1), vec![0.3, 0.3, 0.3]);
    rt.run_function(&m, "restore", &[img.clone(), p.clone()])
        .unwrap();
    let n = rt.gpu().pipelines.len();
    assert!(n > 5, "{n} pipelines");
    // Another size and another run: new buffers, no new pipelines.
    rt.run_function(&m, "restore", &[common::test_image(9, 31, 4), p.clone()])
        .unwrap();
    rt.run_function(&m, "restore", &[img, p]).unwrap();
    assert_eq!(rt.gpu().pipelines.len(), n);
    // Every pipeline is a distinct (shader, entry point): at most the number of entry points.
    assert!(n <= 30);
}
