//! Memory planning: buffers are shared by liveness (peak well below the sum of all
//! intermediates) and never shared by two values alive at the same time.

mod common;

use std::collections::HashMap;
use wgpu_restore::ops::device_bytes;
use wgpu_restore::{memory_report, plan_function, Model, Precision, Shape};

fn tiny() -> Model {
    Model::load(common::fixtures().join("tiny.safetensors")).unwrap()
}

/// Checks that no two values with overlapping lifetimes share a slot, and that no node's
/// output shares a slot with one of its inputs or scratch buffers (in the fused function,
/// which is what the runtime plans and runs), with values split into segments of at most
/// `limit` bytes.
fn check_no_conflicts(model: &Model, function: &str, inputs: &[Shape], limit: u64) {
    let fused = model.fused(function).unwrap();
    let f = &fused.function.def;
    let plan = plan_function(model, function, inputs, Precision::F32, limit, true).unwrap();
    let shapes = model.infer_shapes(function, inputs).unwrap();
    let n = f.nodes.len();
    // Lifetime [birth, death] in node indices; inputs born at -1, outputs die at n.
    let mut life: HashMap<&str, (i64, i64)> = HashMap::new();
    for i in &f.inputs {
        life.insert(&i.name, (-1, n as i64));
    }
    for (k, node) in f.nodes.iter().enumerate() {
        for o in &node.outputs {
            life.insert(o, (k as i64, k as i64));
        }
        for v in &node.inputs {
            life.get_mut(v.as_str()).unwrap().1 = life[v.as_str()].1.max(k as i64);
        }
    }
    for o in &f.outputs {
        life.get_mut(o.as_str()).unwrap().1 = n as i64;
    }
    let slots = |v: &str| plan.value_slots[v].clone();
    let vals: Vec<(&str, (i64, i64))> = life.iter().map(|(k, v)| (*k, *v)).collect();
    for (a, (ab, ad)) in &vals {
        // Every segment's slot holds its channels, and the segments cover the value.
        let segs = &plan.value_segments[*a];
        assert_eq!(segs.first().unwrap().0, 0);
        assert_eq!(segs.last().unwrap().1, shapes[*a].c);
        let plane = device_bytes(Shape::new(1, shapes[*a].h, shapes[*a].w), Precision::F32);
        for (&slot, (c0, c1)) in slots(a).iter().zip(segs) {
            assert!(
                plan.slots[slot] >= (c1 - c0) as u64 * plane,
                "{a}: slot too small"
            );
            assert!(
                (c1 - c0) as u64 * plane <= limit,
                "{a}: segment over the limit"
            );
        }
        for (b, (bb, bd)) in &vals {
            let shared = slots(a).iter().any(|s| slots(b).contains(s));
            if a < b && shared {
                // Sharing is only allowed when one dies strictly before the other is born.
                assert!(
                    ad < bb || bd < ab,
                    "{a} {:?} and {b} {:?} overlap in one slot",
                    (ab, ad),
                    (bb, bd)
                );
            }
        }
    }
    for (k, node) in f.nodes.iter().enumerate() {
        let out = slots(&node.outputs[0]);
        for v in &node.inputs {
            assert!(
                !slots(v).iter().any(|s| out.contains(s)),
                "node {} reads and writes one buffer",
                node.name
            );
        }
        for s in &plan.scratch_slots[k] {
            assert!(
                !out.contains(s),
                "node {}: scratch aliases the output",
                node.name
            );
            for v in &node.inputs {
                assert!(
                    !slots(v).contains(s),
                    "node {}: scratch aliases an input",
                    node.name
                );
            }
        }
    }
}

#[test]
fn peak_is_below_the_sum_of_intermediates() {
    let m = tiny();
    for (h, w) in [(64, 64), (321, 481)] {
        let r = memory_report(
            &m,
            "restore",
            &[Shape::new(3, h, w), Shape::new(3, 1, 1)],
            Precision::F32,
        )
        .unwrap();
        println!(
            "tiny restore {h}x{w}: peak {:.1} MiB in {} buffers, sum of all values {:.1} MiB, weights {:.2} MiB",
            r.peak_bytes as f64 / 1048576.0,
            r.buffers,
            r.total_bytes as f64 / 1048576.0,
            r.weight_bytes as f64 / 1048576.0
        );
        // The U-Net has hundreds of values; reuse must cut memory several-fold.
        assert!(r.peak_bytes * 4 < r.total_bytes, "{r:?}");
        // And the peak is at least the largest single value plus the input.
        let shapes = m
            .infer_shapes("restore", &[Shape::new(3, h, w), Shape::new(3, 1, 1)])
            .unwrap();
        let bytes = |s: Shape| device_bytes(s, Precision::F32);
        let largest = shapes.values().map(|&s| bytes(s)).max().unwrap();
        assert!(r.peak_bytes >= largest + bytes(Shape::new(3, h, w)));
    }
    let r = memory_report(&m, "classify", &[Shape::new(3, 32, 32)], Precision::F32).unwrap();
    assert!(r.peak_bytes < r.total_bytes, "{r:?}");
}

#[test]
fn no_two_live_values_share_a_buffer() {
    let m = tiny();
    check_no_conflicts(
        &m,
        "restore",
        &[Shape::new(3, 37, 53), Shape::new(3, 1, 1)],
        u64::MAX,
    );
    check_no_conflicts(
        &m,
        "restore",
        &[Shape::new(3, 1, 1), Shape::new(3, 1, 1)],
        u64::MAX,
    );
    check_no_conflicts(&m, "classify", &[Shape::new(3, 32, 32)], u64::MAX);
    // Values over 16 planes (of the 40x56 the model pads 37x53 to) split into segments, the
    // attention inputs at whole heads (up to 16 channels).
    let plane = device_bytes(Shape::new(1, 40, 56), Precision::F32);
    check_no_conflicts(
        &m,
        "restore",
        &[Shape::new(3, 37, 53), Shape::new(3, 1, 1)],
        16 * plane,
    );
}

#[test]
fn shape_inference_for_any_size() {
    let m = tiny();
    for (h, w) in [(1, 1), (7, 129), (481, 321), (2048, 2048)] {
        let s = m
            .infer_shapes("restore", &[Shape::new(3, h, w), Shape::new(3, 1, 1)])
            .unwrap();
        assert_eq!(s["restored"], Shape::new(3, h, w));
    }
    let s = m
        .infer_shapes("classify", &[Shape::new(3, 32, 32)])
        .unwrap();
    assert_eq!(s["probs"], Shape::new(3, 1, 1));
}

#[test]
fn the_runtime_uses_the_plan() {
    let m = tiny();
    let rt = common::runtime();
    let inputs = [Shape::new(3, 16, 16), Shape::new(3, 1, 1)];
    let used = rt.plan(&m, "restore", &inputs).unwrap();
    let planned = plan_function(
        &m,
        "restore",
        &inputs,
        rt.precision(),
        rt.binding_limit(),
        rt.split_heads(),
    )
    .unwrap();
    assert_eq!(used.slots, planned.slots);
    assert!(used.slots.len() < m.function("restore").unwrap().def.nodes.len() / 4);
}
