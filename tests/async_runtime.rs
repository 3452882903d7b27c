//! The runtime's async forward (what a web page awaits) against its blocking form: a forward
//! split into submissions that are each awaited gives exactly the one-submission result,
//! and a lost device fails in one line instead of hanging or panicking.

mod common;

use wgpu_restore::tiling::{restore_tiled_cancellable_async, TileOptions};
use wgpu_restore::{Model, Runtime, RuntimeOptions, Shape, Tensor};

fn tiny() -> Model {
    Model::load(common::fixtures().join("tiny.safetensors")).unwrap()
}

fn image(h: usize, w: usize) -> Tensor {
    let data = (0..3 * h * w)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0)
        .collect();
    Tensor::new(Shape::new(3, h, w), data)
}

#[test]
fn awaited_chunks_give_the_one_submission_result() {
    let rt = common::runtime();
    let model = tiny();
    let img = image(29, 37);
    rt.set_submit_chunk(0);
    let probs = rt.classify(&model, &img).unwrap();
    let whole = rt.restore(&model, &img, &probs).unwrap();
    // 1: a wait after every dispatch; 5: chunks that end inside nodes.
    for chunk in [1, 5] {
        rt.set_submit_chunk(chunk);
        let p = pollster::block_on(rt.classify_async(&model, &img)).unwrap();
        assert_eq!(p, probs, "chunk {chunk}: probabilities");
        let out = pollster::block_on(rt.restore_async(&model, &img, &probs)).unwrap();
        assert_eq!(out, whole, "chunk {chunk}: restoration");
        // Tiled, through the async tiling entry point.
        let opts = TileOptions {
            tile: Some(16),
            overlap: 4,
            ..TileOptions::for_runtime(rt)
        };
        let mut steps = Vec::new();
        let (tiled, report) = pollster::block_on(restore_tiled_cancellable_async(
            rt,
            &model,
            &img,
            &probs,
            &opts,
            &std::sync::atomic::AtomicBool::new(false),
            &mut |done, total| steps.push((done, total)),
        ))
        .unwrap()
        .expect("not cancelled");
        assert_eq!(tiled.shape, img.shape);
        assert_eq!(report.tiles, steps.last().unwrap().1);
        assert_eq!(
            steps.last().unwrap().0,
            report.tiles,
            "progress ends at the last tile"
        );
        assert!(tiled.data.iter().all(|v| v.is_finite()));
    }
    rt.set_submit_chunk(0);
}

#[test]
fn a_lost_device_fails_in_one_line() {
    let rt = Runtime::new(RuntimeOptions {
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let model = tiny();
    let img = image(16, 24);
    rt.set_submit_chunk(3);
    assert!(rt.classify(&model, &img).is_ok());
    assert_eq!(rt.gpu().lost(), None);
    rt.gpu().device.destroy();
    let e = rt.classify(&model, &img).unwrap_err().to_string();
    assert!(e.contains("was lost"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    assert!(rt.gpu().lost().is_some());
}
