//! Planning a function without a device: every value's shape and channel granule, its
//! segments under the binding limit (ops/segments.rs), and the buffer slots (plan.rs).

use crate::error::{Error, Result};
use crate::model::Model;
use crate::ops::{self, Precision};
use crate::plan::{self, Plan};
use crate::tensor::Shape;
use std::collections::HashMap;

/// The memory plan of one function at one input size.
#[derive(Clone, Debug)]
pub struct MemoryReport {
    /// Bytes of all activation buffers (values and scratch) after reuse by liveness.
    pub peak_bytes: u64,
    /// Bytes of all values and scratch buffers if none were shared.
    pub total_bytes: u64,
    /// Bytes of the weights on the device.
    pub weight_bytes: u64,
    /// Number of activation buffers.
    pub buffers: usize,
}

/// Plans the buffers of `function` (after fusion, as the runtime runs it) at the given
/// input sizes, values stored in `precision`, each value split into segments of at most
/// `binding_limit` bytes (ops/segments.rs; `u64::MAX`: never split). With `split_heads`
/// (a device with [`ops::SPLIT_HEAD_BINDINGS`] storage bindings per stage), a value whose
/// single attention head is over the limit is split inside its heads, else it cannot be
/// planned. No GPU needed.
pub fn plan_function(
    model: &Model,
    function: &str,
    inputs: &[Shape],
    precision: Precision,
    binding_limit: u64,
    split_heads: bool,
) -> Result<Plan> {
    let fused = model.fused(function)?;
    plan_of(
        model,
        &fused.function,
        inputs,
        precision,
        binding_limit,
        split_heads,
    )
}

/// The plan of one form (fused or not) of a model's function.
pub(super) fn plan_of(
    model: &Model,
    f: &crate::model::CheckedFunction,
    inputs: &[Shape],
    precision: Precision,
    binding_limit: u64,
    split_heads: bool,
) -> Result<Plan> {
    // Shapes of every value of the unfused function: a superset of the fused one's.
    let shapes = model.infer_shapes(&f.name, inputs)?;
    // The channel granule of each value: what its writer and readers need together; and
    // the values some op needs in whole granules (all but the attention kernels, which
    // also take a head in pieces).
    let mut granule: HashMap<String, usize> = HashMap::new();
    let mut rigid: std::collections::HashSet<String> = Default::default();
    let mut need = |v: &str, g: usize, op: &crate::model::Op| {
        let e = granule.entry(v.to_string()).or_insert(1);
        *e = lcm(*e, g);
        if g > 1 && !ops::takes_split_heads(op) {
            rigid.insert(v.to_string());
        }
    };
    let mut scratch = Vec::with_capacity(f.def.nodes.len());
    for (node, op) in f.def.nodes.iter().zip(&f.ops) {
        let ins: Vec<Shape> = node.inputs.iter().map(|v| shapes[v]).collect();
        let out = shapes[&node.outputs[0]];
        let (gi, go) = ops::granules(op, &ins, out);
        for (v, g) in node.inputs.iter().zip(gi) {
            need(v, g, op);
        }
        need(&node.outputs[0], go, op);
        scratch.push(ops::scratch_bytes(op, &ins, out));
    }
    let values = f
        .def
        .inputs
        .iter()
        .map(|i| &i.name)
        .chain(f.def.nodes.iter().map(|n| &n.outputs[0]));
    let mut segments = HashMap::new();
    let mut bytes = HashMap::new();
    for v in values {
        let s = shapes[v];
        let g = granule.get(v).copied().unwrap_or(1);
        let segs = ops::segments::of(s, precision, g, binding_limit)
            .or_else(|| {
                let pieces = split_heads && !rigid.contains(v);
                pieces
                    .then(|| ops::segments::of_head_pieces(s, precision, g, binding_limit))
                    .flatten()
            })
            .ok_or_else(|| Error::BufferTooLarge {
                value: format!("{v} ({s}): one channel"),
                bytes: ops::pitch(s) as u64 * precision.bytes() * g as u64,
                limit: binding_limit,
            })?;
        let plane = ops::pitch(s) as u64 * precision.bytes();
        bytes.insert(
            v.clone(),
            segs.iter().map(|(a, b)| (b - a) as u64 * plane).collect(),
        );
        segments.insert(v.clone(), segs);
    }
    let mut plan = plan::plan(&f.def, &bytes, &scratch);
    plan.value_segments = segments;
    Ok(plan)
}

fn lcm(a: usize, b: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    a / gcd(a, b).max(1) * b
}

/// The memory needed by `function` at the given input sizes, values and weights stored in
/// `precision` (no GPU needed).
pub fn memory_report(
    model: &Model,
    function: &str,
    inputs: &[Shape],
    precision: Precision,
) -> Result<MemoryReport> {
    let p = plan_function(model, function, inputs, precision, u64::MAX, false)?;
    Ok(MemoryReport {
        peak_bytes: p.peak_bytes,
        total_bytes: p.total_bytes,
        weight_bytes: model
            .tensors
            .values()
            .map(|t| t.data.len() as u64 * precision.bytes())
            .sum(),
        buffers: p.slots.len(),
    })
}
