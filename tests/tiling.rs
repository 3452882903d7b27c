//! Tiled against whole-image restoration on the tiny model (lavapipe in CI).

mod common;

use wgpu_restore::ensemble;
use wgpu_restore::tiling::{auto_tile, is_out_of_memory, layout, restore_tiled, TileOptions};
use wgpu_restore::{Error, Model, Shape, Tensor};

fn tiny() -> Model {
    Model::load(common::fixtures().join("tiny.safetensors")).unwrap()
}

/// A purely local "restore" function (two 3x3 convolutions, receptive radius 2, plus the
/// input): away from tile edges every tile computes exactly what the whole image does, so
/// the stitched result may differ only by the small blend weight given to tile-edge pixels.
fn local_model() -> Model {
    use std::collections::BTreeMap;
    use wgpu_restore::model::GraphDoc;
    use wgpu_restore::HostTensor;
    let doc: GraphDoc = serde_json::from_value(serde_json::json!({
        "format": "wgpu-restore-model", "version": 1, "config": "local-test",
        "degradations": ["noise", "rain", "haze"],
        "functions": {"restore": {
            "inputs": [{"name": "image", "channels": 3}, {"name": "probs", "channels": 3}],
            "outputs": ["out"],
            "nodes": [
                {"name": "c1", "op": "conv2d", "inputs": ["image"], "outputs": ["a"],
                 "attrs": {"kernel": 3, "stride": 1, "padding": 1, "groups": 1},
                 "weights": {"weight": "c1.w", "bias": "c1.b"}},
                {"name": "r", "op": "relu", "inputs": ["a"], "outputs": ["b"]},
                {"name": "c2", "op": "conv2d", "inputs": ["b"], "outputs": ["c"],
                 "attrs": {"kernel": 3, "stride": 1, "padding": 1, "groups": 1},
                 "weights": {"weight": "c2.w"}},
                {"name": "add", "op": "add", "inputs": ["image", "c"], "outputs": ["out"]}
            ]}}
    }))
    .unwrap();
    let w = |n: usize, seed: u64| -> Vec<f32> {
        common::test_image(1, n, seed)
            .data
            .iter()
            .map(|v| (v - 0.5) * 0.4)
            .collect()
    };
    let tensors = BTreeMap::from([
        (
            "c1.w".to_string(),
            HostTensor {
                shape: vec![8, 3, 3, 3],
                data: w(216, 1),
            },
        ),
        (
            "c1.b".to_string(),
            HostTensor {
                shape: vec![8],
                data: w(8, 2),
            },
        ),
        (
            "c2.w".to_string(),
            HostTensor {
                shape: vec![3, 8, 3, 3],
                data: w(216, 3),
            },
        ),
    ]);
    Model::from_parts(doc, tensors).unwrap()
}

fn mean_abs(a: &wgpu_restore::Tensor, b: &wgpu_restore::Tensor) -> f32 {
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .sum::<f32>()
        / a.data.len() as f32
}

#[test]
fn tiled_matches_whole_image_for_a_local_network() {
    let rt = common::runtime();
    let model = local_model();
    let image = common::test_image(48, 64, 11);
    let probs = [0.6, 0.3, 0.1];
    let whole = rt.restore(&model, &image, &probs).unwrap();
    let mut opts = TileOptions::for_runtime(rt);
    opts.tile = Some(32);
    opts.overlap = 16;
    let mut calls = Vec::new();
    let (tiled, report) = restore_tiled(rt, &model, &image, &probs, &opts, &mut |d, t| {
        calls.push((d, t))
    })
    .unwrap();
    assert_eq!(report.tile, Some(32));
    assert_eq!(report.tiles, layout(48, 64, 32, 16, 1).len());
    assert!(report.tiles > 1);
    assert_eq!(calls.last(), Some(&(report.tiles, report.tiles)));
    let diff = tiled.max_abs_diff(&whole);
    println!(
        "local network, 48x64, tile 32 overlap 16 ({} tiles): tiled vs whole max abs diff {diff:.2e}, mean {:.2e}",
        report.tiles,
        mean_abs(&tiled, &whole)
    );
    // Tolerance: tile-edge pixels (2 per side, wrong by <= ~1) get blend weights <= 0.022.
    assert!(diff <= 0.03, "tiled output differs by {diff}");
    // A tile as large as the image is the whole image, bit for bit.
    opts.tile = Some(64);
    let (same, report) = restore_tiled(rt, &model, &image, &probs, &opts, &mut |_, _| {}).unwrap();
    assert_eq!(report.tile, None);
    assert_eq!(same, whole);
}

/// The tiny model (random weights) has global operations (channel attention over the whole
/// tile, global pooling in its prompt blocks), so tiles cannot reproduce the whole image
/// exactly; this measures the difference in the 8-bit output the CLI writes.
#[test]
fn tiled_against_whole_image_on_the_tiny_model() {
    let rt = common::runtime();
    let model = tiny();
    let image = common::test_image(48, 64, 11);
    let probs = [0.6, 0.3, 0.1];
    let whole = rt.restore(&model, &image, &probs).unwrap();
    let mut opts = TileOptions::for_runtime(rt);
    opts.tile = Some(32);
    opts.overlap = 16;
    let (tiled, report) = restore_tiled(rt, &model, &image, &probs, &opts, &mut |_, _| {}).unwrap();
    let (a, b) = (
        wgpu_restore::image_io::rgb8_from_tensor(&tiled),
        wgpu_restore::image_io::rgb8_from_tensor(&whole),
    );
    let max8 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap();
    let psnr = wgpu_restore::metrics::psnr(&a, &b);
    println!(
        "tiny model, 48x64, tile 32 overlap 16 ({} tiles): raw max abs diff {:.3}, mean {:.4}; \
         8-bit max diff {max8}, PSNR(tiled, whole) {psnr:.2} dB; (output moved from input by up to {:.3})",
        report.tiles,
        tiled.max_abs_diff(&whole),
        mean_abs(&tiled, &whole),
        whole.max_abs_diff(&image)
    );
    assert!(tiled.data.iter().all(|v| v.is_finite()));
    assert_eq!(tiled.shape, whole.shape);
}

#[test]
fn automatic_tile_size_follows_the_limits() {
    let rt = common::runtime();
    let model = tiny();
    let mut opts = TileOptions::for_runtime(rt);
    assert_eq!(
        auto_tile(&model, 48, 64, &opts).unwrap(),
        None,
        "small images are not tiled"
    );
    // A binding limit far below what a 2000x3000 forward needs: tiles, each of which fits.
    opts.max_binding = 16 << 20;
    let t = auto_tile(&model, 2000, 3000, &opts)
        .unwrap()
        .expect("must tile");
    assert!(wgpu_restore::tiling::fits(&model, t, t, &opts).unwrap());
    assert!(t < 2000);
    // An activation budget: same.
    let mut opts = TileOptions::for_runtime(rt);
    opts.memory_budget = 64 << 20;
    let t2 = auto_tile(&model, 2000, 3000, &opts)
        .unwrap()
        .expect("must tile");
    assert!(wgpu_restore::tiling::fits(&model, t2, t2, &opts).unwrap());
    // A side over the device's workgroups per dimension (lowered here from 65535): a long
    // thin image that needs little memory is tiled too, with tiles within the limit.
    let mut opts = TileOptions::for_runtime(rt);
    assert!(opts.max_side >= 65535, "{}", opts.max_side);
    opts.max_side = 100;
    assert!(!wgpu_restore::tiling::fits(&model, 50, 300, &opts).unwrap());
    let t3 = auto_tile(&model, 50, 300, &opts)
        .unwrap()
        .expect("must tile");
    assert!(t3 <= 100, "{t3}");
    // The side that counts is the padded one: 99 pads to 104 (a multiple of 8) in the
    // tiny model, over a limit of 100.
    assert!(!wgpu_restore::tiling::fits(&model, 50, 99, &opts).unwrap());
    assert!(wgpu_restore::tiling::fits(&model, 50, 96, &opts).unwrap());
    // A tile asked for that is larger than the limit is lowered to the largest aligned side
    // within it (96 here), instead of a whole-image forward the device cannot dispatch.
    opts.tile = Some(1000);
    opts.overlap = 8;
    let image = Tensor::new(Shape::new(3, 50, 300), vec![0.5; 3 * 50 * 300]);
    let (out, report) = restore_tiled(rt, &model, &image, &[0.0; 3], &opts, &mut |_, _| {})
        .expect("restores in tiles");
    assert_eq!(report.tile, Some(96));
    assert!(report.tiles > 1, "{}", report.tiles);
    assert_eq!(out.shape, image.shape);
}

#[test]
fn out_of_memory_is_recognized() {
    assert!(is_out_of_memory(&Error::BufferTooLarge {
        value: "x".into(),
        bytes: 10,
        limit: 5
    }));
    assert!(is_out_of_memory(&Error::Gpu("Out of Memory".into())));
    assert!(!is_out_of_memory(&Error::Input("bad".into())));
}

#[test]
fn out_of_memory_retries_with_smaller_tiles() {
    // A value too large for one binding is split into segments of whole channels, so only
    // a single channel plane over the limit still fails with BufferTooLarge. With the
    // binding limit lowered below one 192x192 plane (but above a 96x96 one), asking for the
    // whole image in one tile fails, and restore_tiled retries with half-size tiles instead
    // of failing. (Its own runtime: the lowered limit must not reach the other tests.)
    let rt = &wgpu_restore::Runtime::new(wgpu_restore::RuntimeOptions {
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let model = local_model();
    let side = 192;
    rt.set_binding_limit(100_000);
    let image = common::test_image(side, side, 5);
    let mut opts = TileOptions::for_runtime(rt);
    opts.tile = Some(side);
    opts.overlap = 16;
    let (out, report) =
        restore_tiled(rt, &model, &image, &[0.0, 0.0, 1.0], &opts, &mut |_, _| {}).unwrap();
    println!(
        "{side}x{side}: retries {:?}, tile {:?}, {} tiles",
        report.retries, report.tile, report.tiles
    );
    assert_eq!(report.retries, vec![side]);
    assert_eq!(report.tile, Some(side / 2));
    assert_eq!(out.shape, image.shape);
    assert!(out.data.iter().all(|v| v.is_finite()));

    // A self-ensemble (haze: the 2 mirrors) starts its second pass at the size that fitted:
    // no second whole-image attempt, which would report step (1, 2) before failing.
    let mut steps = Vec::new();
    let (out2, report2) = ensemble::restore(
        rt,
        &model,
        &image,
        &[0.0, 0.0, 1.0],
        &opts,
        true,
        &mut |d, t| steps.push((d, t)),
    )
    .unwrap();
    assert_eq!(report2.passes, 2);
    assert_eq!(report2.retries, vec![side]);
    assert_eq!(
        (report2.tile, report2.tiles),
        (Some(side / 2), 2 * report.tiles)
    );
    assert!(
        !steps.contains(&(1, 2)),
        "the second pass tried the whole image again"
    );
    assert_eq!(out2.shape, image.shape);
}

/// A 4-megapixel photo with the shipped model on a device that binds 128 MiB (lavapipe; the
/// WebGPU default): one 32-channel attention head of its full-size maps is 512 MiB in f32,
/// so it was tiled; with heads bound in pieces it plans as one forward, and without them it
/// still tiles. Planned only: no GPU needed.
#[test]
fn four_megapixels_are_one_forward_with_128_mib_bindings() {
    let model = Model::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/models/allinone-small.safetensors"),
    )
    .unwrap();
    let mut opts = TileOptions {
        tile: None,
        overlap: 32,
        memory_budget: 8 << 30,
        max_binding: 128 << 20,
        split_heads: true,
        max_side: 65535,
        min_tile: 64,
        precision: wgpu_restore::Precision::F32,
    };
    let (h, w) = (1728, 2304);
    assert_eq!(auto_tile(&model, h, w, &opts).unwrap(), None);
    let plan = wgpu_restore::plan_function(
        &model,
        "restore",
        &model.restore_inputs(h, w),
        opts.precision,
        opts.max_binding,
        true,
    )
    .unwrap();
    assert!(plan.slots.iter().all(|&b| b <= 128 << 20));
    println!(
        "4 MP: one forward, peak {} MiB in {} buffers",
        plan.peak_bytes >> 20,
        plan.slots.len()
    );
    opts.split_heads = false;
    assert!(auto_tile(&model, h, w, &opts).unwrap().is_some());
}
