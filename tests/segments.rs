//! Values larger than one storage binding (ops/segments.rs): with the runtime's binding
//! limit lowered to a few planes, a small image's values are split into segments as a
//! large image's would be on a device that binds 128 MiB, and every kernel that takes
//! values in pieces (1x1 and 3x3 convolutions over input and output chunks with the norm's
//! sums gathered first, depthwise and gated convolutions, both attentions by runs of heads,
//! elementwise ops, concat, pixel shuffles, resize, pads and crops) must give the result of
//! the whole forward.

mod common;

use wgpu_restore::ops::device_bytes;
use wgpu_restore::{Model, Precision, Shape};

/// The binding limit belongs to the shared runtime: the tests that lower it take turns.
static BINDING_LIMIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn split_values_give_the_whole_forward() {
    let _turn = BINDING_LIMIT.lock().unwrap_or_else(|e| e.into_inner());
    let rt = common::runtime();
    // (model, probabilities, full-size planes per binding: at least the widest head)
    let cases = [
        ("tiny.safetensors", vec![0.7, 0.2, 0.4], 16),
        ("import/restormer_bias_free.safetensors", vec![], 16),
        ("import/promptir_tiny.safetensors", vec![], 4),
    ];
    for (file, probs, planes) in cases {
        let model = Model::load(common::fixtures().join(file)).unwrap();
        for (h, w) in [(48, 64), (37, 53)] {
            let img = common::test_image(h, w, 5);
            rt.set_binding_limit(0);
            let whole = rt.restore(&model, &img, &probs).unwrap();
            let plane = device_bytes(Shape::new(1, h + 8, w + 8), Precision::F32);
            rt.set_binding_limit(planes * plane);
            let inputs = model.restore_inputs(h, w);
            let plan = rt.plan(&model, "restore", &inputs).unwrap();
            let split = plan.value_segments.values().filter(|s| s.len() > 1).count();
            let most = plan.value_segments.values().map(|s| s.len()).max().unwrap();
            let pieces = rt.restore(&model, &img, &probs).unwrap();
            rt.set_binding_limit(0);
            let err = pieces.max_abs_diff(&whole);
            println!("{file} at {h}x{w}: {split} values split (up to {most} segments); max |split - whole| {err:.2e}");
            assert!(split >= 5, "{file}: too few values split to test anything");
            assert!(err <= 1e-5, "{file} at {h}x{w}: {err}");
        }
        rt.release(&model);
    }
}

/// With the binding limit below one attention head (a 4-megapixel map's 32-plane head is 512
/// MiB in f32 against lavapipe's 128 MiB), the values the attention kernels read and write
/// are split inside their heads, each head bound as two or four pieces, and the forward is
/// still the whole one: without that split the plan is refused (and the image was tiled).
#[test]
fn heads_split_over_bindings_give_the_whole_forward() {
    let _turn = BINDING_LIMIT.lock().unwrap_or_else(|e| e.into_inner());
    let rt = common::runtime();
    assert!(
        rt.split_heads(),
        "the test device binds too few storage buffers"
    );
    // (model, probabilities, full-size planes per binding: under the widest head, down to a
    // quarter of it where the other kernels' scratch buffers still fit)
    let cases: [(&str, Vec<f32>, &[u64]); 3] = [
        ("tiny.safetensors", vec![0.7, 0.2, 0.4], &[8, 4]),
        ("import/restormer_bias_free.safetensors", vec![], &[4]),
        ("import/promptir_tiny.safetensors", vec![], &[3]),
    ];
    for (file, probs, limits) in cases {
        let model = Model::load(common::fixtures().join(file)).unwrap();
        let (h, w) = (37, 53);
        let img = common::test_image(h, w, 9);
        rt.set_binding_limit(0);
        let whole = rt.restore(&model, &img, &probs).unwrap();
        let inputs = model.restore_inputs(h, w);
        for &planes in limits {
            let plane = device_bytes(Shape::new(1, h + 8, w + 8), Precision::F32);
            rt.set_binding_limit(planes * plane);
            let refused = wgpu_restore::plan_function(
                &model,
                "restore",
                &inputs,
                Precision::F32,
                planes * plane,
                false,
            );
            assert!(
                refused.is_err(),
                "{file}: {planes} planes per binding hold a whole head; nothing to test"
            );
            let pieces = rt.restore(&model, &img, &probs).unwrap();
            rt.set_binding_limit(0);
            let err = pieces.max_abs_diff(&whole);
            println!("{file} at {h}x{w}, {planes} full-size planes per binding: max |split - whole| {err:.2e}");
            // Smaller segments split the convolutions' sums into more partial sums than the
            // test above does, so rounding differs a little more; a head read from a wrong
            // piece is off by tenths.
            assert!(err <= 3e-5, "{file}, {planes} planes: {err}");
        }
        rt.release(&model);
    }
}
