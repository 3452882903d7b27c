//! End to end on the tiny model: classify (crop sampling + averaging) and restore must match
//! the PyTorch reference fixtures; odd sizes run and give finite outputs of the right shape.
//! The shipped (trained, f16) model is checked the same way on a patch of a real photo.

mod common;

use wgpu_restore::ensemble::{restore, symmetries_for};
use wgpu_restore::tiling::TileOptions;
use wgpu_restore::{Model, Shape, Tensor};

fn tiny() -> &'static Model {
    static M: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    M.get_or_init(|| Model::load(common::fixtures().join("tiny.safetensors")).unwrap())
}

/// Classifies and restores a fixture's `image` with `model` and checks both against the
/// fixture's PyTorch `probs` and `restored`; returns (input, restored) for further checks.
fn check_against_fixture(
    label: &str,
    model: &Model,
    file: &wgpu_restore::model::SafetensorsFile,
) -> (Tensor, Tensor) {
    let image = common::to_tensor("image", &file.tensors["image"]);
    let probs_ref = &file.tensors["probs"].data;
    let restored_ref = common::to_tensor("restored", &file.tensors["restored"]);
    let rt = common::runtime();

    let probs = rt.classify(model, &image).unwrap();
    assert_eq!(probs.len(), probs_ref.len());
    let perr = probs
        .iter()
        .zip(probs_ref)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("{label}: probs {probs:?} vs {probs_ref:?}, max abs err {perr:.2e}");
    assert!(perr <= 1e-4, "{label}: probs differ by {perr}");

    let restored = rt.restore(model, &image, probs_ref).unwrap();
    let err = restored.max_abs_diff(&restored_ref);
    println!("{label}: restored max abs err {err:.2e}");
    assert!(err <= 1e-3, "{label}: restored image differs by {err}");

    // The self-ensemble against training/ensemble.py: the tiny model's fixtures detect only
    // noise (all 8 symmetries, quarter turns at the transposed size of these non-square
    // images), the shipped model's rainy patch rain (4).
    let want = common::to_tensor("restored_ensemble", &file.tensors["restored_ensemble"]);
    let passes = symmetries_for(model.degradations(), probs_ref).len();
    let opts = TileOptions::for_runtime(rt);
    let mut steps = Vec::new();
    let (got, report) = restore(rt, model, &image, probs_ref, &opts, true, &mut |d, t| {
        steps.push((d, t))
    })
    .unwrap();
    let err = got.max_abs_diff(&want);
    let moved = want.max_abs_diff(&restored_ref);
    println!(
        "{label}: self-ensemble of {passes}: max abs err {err:.2e} (it moves the output by {moved:.2e})"
    );
    assert!(err <= 1e-3, "{label}: self-ensemble differs by {err}");
    assert!(
        moved > 1e-3,
        "{label}: the fixture's ensemble equals the single pass"
    );
    assert_eq!(
        (report.tile, report.tiles, report.passes),
        (None, passes, passes)
    );
    assert_eq!(
        steps.last(),
        Some(&(passes, passes)),
        "progress counts every pass"
    );
    (image, restored)
}

fn check_e2e(name: &str) {
    let file = common::read_fixture(&common::fixtures().join(name));
    assert_eq!(
        file.metadata.get("model").map(String::as_str),
        Some("tiny.safetensors")
    );
    let (image, restored) = check_against_fixture(name, tiny(), &file);
    let probs = &file.tensors["probs"].data;
    assert_eq!(
        symmetries_for(tiny().degradations(), probs).len(),
        8,
        "noise only"
    );
    let moved = restored.max_abs_diff(&image);
    println!("{name}: output differs from input by up to {moved:.3}");
    assert!(moved > 1e-3, "the restoration network did nothing");
}

#[test]
fn e2e_24x70() {
    check_e2e("e2e_24x70.safetensors");
}

#[test]
fn e2e_37x53() {
    check_e2e("e2e_37x53.safetensors");
}

/// The model the CLI and the app embed, against the graph interpreter's output for a
/// rain-streaked patch of `assets/samples/rainy.png` (`training/fixtures.py`).
#[test]
fn shipped_model_matches_reference() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = common::read_fixture(&common::fixtures().join("shipped_44x60.safetensors"));
    let model_path = root.join(&file.metadata["model"]);
    let raw = std::fs::read(&model_path).unwrap();
    let identity = format!("{} bytes, crc32 {:08x}", raw.len(), crc32fast::hash(&raw));
    let expected = format!(
        "{} bytes, crc32 {}",
        file.metadata["model_bytes"], file.metadata["model_crc32"]
    );
    assert_eq!(
        identity,
        expected,
        "{} changed since the fixture was made: run training/fixtures.py",
        model_path.display()
    );
    let model = Model::from_bytes(&raw).unwrap();
    let probs = &file.tensors["probs"].data;
    assert_eq!(
        symmetries_for(model.degradations(), probs).len(),
        4,
        "a rainy patch"
    );
    check_against_fixture("shipped", &model, &file);
    common::runtime().release(&model);
}

#[test]
fn e2e_fixtures_exist() {
    let n = std::fs::read_dir(common::fixtures())
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            let n = n.to_string_lossy();
            n.starts_with("e2e_") && n.ends_with(".safetensors")
        })
        .count();
    assert!(n >= 2, "expected two e2e fixtures, found {n}");
}

#[test]
fn odd_sizes_run() {
    let rt = common::runtime();
    let model = tiny();
    for (h, w) in [(1, 1), (1, 64), (5, 3), (9, 17), (33, 7)] {
        let image = common::test_image(h, w, (h * 100 + w) as u64);
        let probs = rt.classify(model, &image).unwrap();
        assert_eq!(probs.len(), model.degradations().len());
        assert!(
            probs
                .iter()
                .all(|p| p.is_finite() && (0.0..=1.0).contains(p)),
            "{probs:?}"
        );
        let out = rt.restore(model, &image, &probs).unwrap();
        assert_eq!(out.shape, Shape::new(3, h, w));
        assert!(
            out.data.iter().all(|v| v.is_finite()),
            "{h}x{w}: non-finite output"
        );
        assert!(out.max_abs_diff(&image) > 0.0);
    }
}

#[test]
fn buffers_are_reused_across_calls() {
    // Running the same size twice gives bit-identical results (buffers reused, no stale state),
    // and a different size in between does not disturb it.
    let rt = common::runtime();
    let model = tiny();
    let a = common::test_image(16, 24, 1);
    let b = common::test_image(8, 8, 2);
    let probs = [0.2, 0.7, 0.1];
    let r1 = rt.restore(model, &a, &probs).unwrap();
    let _ = rt.restore(model, &b, &probs).unwrap();
    let r2 = rt.restore(model, &a, &probs).unwrap();
    assert_eq!(r1, r2);
    // Probabilities are an input, not state: changing them changes the output.
    let r3 = rt.restore(model, &a, &[1.0, 0.0, 0.0]).unwrap();
    assert!(r3.max_abs_diff(&r1) > 0.0);
    let _ = Tensor::zeros(Shape::new(1, 1, 1));
}
