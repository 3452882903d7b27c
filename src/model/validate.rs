//! Whole-file validation, before any GPU work: known ops, weights present and well shaped,
//! values produced once and before use, function outputs produced, no unreferenced tensor.

use super::file::HostTensor;
use super::graph::{Function, GraphDoc};
use super::op::Op;
use crate::error::{Error, Result};
use crate::tensor::Shape;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A validated function: its parsed ops and the channel count of every value.
#[derive(Clone, Debug)]
pub struct CheckedFunction {
    pub name: String,
    pub def: Function,
    pub ops: Vec<Op>,
    pub channels: HashMap<String, usize>,
}

pub fn validate(
    doc: &GraphDoc,
    tensors: &BTreeMap<String, HostTensor>,
) -> Result<BTreeMap<String, CheckedFunction>> {
    let mut referenced = BTreeSet::new();
    let mut out = BTreeMap::new();
    for (fname, f) in &doc.functions {
        let checked = validate_function(fname, f, tensors, &mut referenced)?;
        out.insert(fname.clone(), checked);
    }
    for name in tensors.keys() {
        if !referenced.contains(name) {
            return Err(Error::UnreferencedTensor {
                tensor: name.clone(),
            });
        }
    }
    Ok(out)
}

fn validate_function(
    fname: &str,
    f: &Function,
    tensors: &BTreeMap<String, HostTensor>,
    referenced: &mut BTreeSet<String>,
) -> Result<CheckedFunction> {
    let ferr = |msg: String| Error::Function {
        function: fname.to_string(),
        msg,
    };
    let mut channels: HashMap<String, usize> = HashMap::new();
    for input in &f.inputs {
        if input.channels == 0 {
            return Err(ferr(format!("input `{}` declares 0 channels", input.name)));
        }
        if channels
            .insert(input.name.clone(), input.channels)
            .is_some()
        {
            return Err(ferr(format!("input `{}` is declared twice", input.name)));
        }
    }
    let mut ops = Vec::with_capacity(f.nodes.len());
    let mut names = BTreeSet::new();
    for node in &f.nodes {
        if !names.insert(node.name.as_str()) {
            return Err(ferr(format!("two nodes are named `{}`", node.name)));
        }
        let op = Op::parse(node)?;
        let mut cin = Vec::with_capacity(node.inputs.len());
        for v in &node.inputs {
            match channels.get(v) {
                Some(c) => cin.push(*c),
                None => {
                    return Err(Error::Node {
                        node: node.name.clone(),
                        msg: format!("value `{v}` is used before it is produced"),
                    })
                }
            }
        }
        for (slot, tname) in &node.weights {
            if !tensors.contains_key(tname) {
                return Err(Error::MissingTensor {
                    node: node.name.clone(),
                    slot: slot.clone(),
                    tensor: tname.clone(),
                });
            }
            referenced.insert(tname.clone());
        }
        let wshape = |slot: &str| tensors[&node.weights[slot]].shape.clone();
        let cout = op.out_channels(node, &cin, &wshape)?;
        for v in &node.outputs {
            if channels.insert(v.clone(), cout).is_some() {
                return Err(Error::Node {
                    node: node.name.clone(),
                    msg: format!("value `{v}` is produced a second time"),
                });
            }
        }
        ops.push(op);
    }
    check_pad_multiples(f, &ops)?;
    for o in &f.outputs {
        if !channels.contains_key(o) {
            return Err(ferr(format!("output `{o}` is never produced")));
        }
    }
    if f.outputs.is_empty() {
        return Err(ferr("has no outputs".into()));
    }
    Ok(CheckedFunction {
        name: fname.to_string(),
        def: f.clone(),
        ops,
        channels,
    })
}

/// The `reflect_pad` multiple every function may use whatever its layers (the op tests pad
/// single nodes to 8).
pub const MIN_USABLE_PAD_MULTIPLE: u64 = 64;

/// A `reflect_pad` exists so that every down-sampling divides the padded size and every
/// attention window tiles it: a multiple past the product of the function's down-sampling
/// factors (pixel_unshuffle factors, conv and max_pool strides) times its largest window
/// serves nothing, and a large one (4096) pads every image until it no longer fits the
/// device, which would fail each image as "use a smaller image or tiles" instead of once
/// here.
fn check_pad_multiples(f: &Function, ops: &[Op]) -> Result<()> {
    let mut down: u64 = 1;
    let mut window: u64 = 1;
    for op in ops {
        match *op {
            Op::PixelUnshuffle { factor } => down = down.saturating_mul(factor as u64),
            Op::Conv2d { stride, .. } | Op::MaxPool { stride, .. } => {
                down = down.saturating_mul(stride as u64)
            }
            Op::WindowAttention { window: w, .. } => window = window.max(w as u64),
            _ => {}
        }
    }
    let usable = down.saturating_mul(window).max(MIN_USABLE_PAD_MULTIPLE);
    for (node, op) in f.nodes.iter().zip(ops) {
        if let Op::ReflectPad { multiple } = *op {
            if multiple as u64 > usable {
                return Err(Error::Node {
                    node: node.name.clone(),
                    msg: format!(
                        "reflect_pad multiple {multiple} is more than the function can use ({usable}: down-sampling x{down} times the largest attention window {window}, or {MIN_USABLE_PAD_MULTIPLE}); it would pad every image to at least {multiple}x{multiple}"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Every weight finite. One NaN or infinity in a weight reaches every pixel after a few
/// layers (convolutions mix neighbours, norms and attention mix the whole image), and the
/// encoder writes NaN as 0: each image would come out black with a success status.
pub fn check_weights_finite(tensors: &BTreeMap<String, HostTensor>) -> Result<()> {
    for (name, t) in tensors {
        let bad = t.data.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            let first = t.data.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Err(Error::Tensor {
                tensor: name.clone(),
                msg: format!(
                    "{bad} of its {} values are not finite (the first, at index {first}, is {}); every restored image would be black. Export the model again from a checkpoint whose weights are finite",
                    t.data.len(),
                    t.data[first]
                ),
            });
        }
    }
    Ok(())
}

/// The largest Prompt Net crop side accepted (the shipped models use 128).
pub const MAX_PROMPT_CROP: usize = 4096;

/// What the runtime assumes of the two entry points, checked once at load so that a model
/// file that breaks it is refused with the reason instead of failing (or indexing out of
/// bounds) on every image: `restore(image: 3, probs: K) -> 3 x H x W` of the input's size,
/// `classify(crop: 3) -> K` probabilities, K = the number of `degradations`, and a sane
/// Prompt Net crop. A model without a Prompt Net (no degradations, as an imported
/// Restormer) has `restore(image: 3)` and no `classify`. Either function may be absent (a
/// model that only restores or only classifies); the commands that need one say so when
/// it is missing.
pub fn check_entry_points(
    doc: &GraphDoc,
    functions: &BTreeMap<String, CheckedFunction>,
    tensors: &BTreeMap<String, HostTensor>,
) -> Result<()> {
    let k = doc.degradations.len();
    let ferr = |function: &str, msg: String| Error::Function {
        function: function.to_string(),
        msg,
    };
    let declared =
        |f: &CheckedFunction| -> Vec<usize> { f.def.inputs.iter().map(|i| i.channels).collect() };
    if let Some(f) = functions.get("restore") {
        let want: Vec<usize> = if k == 0 { vec![3] } else { vec![3, k] };
        if declared(f) != want {
            let expected = if k == 0 {
                "(image: 3 channels), as the model names no degradations".to_string()
            } else {
                format!("(image: 3 channels, probs: {k} = one per degradation)")
            };
            return Err(ferr(
                "restore",
                format!("inputs must be {expected}, got {:?} channels", declared(f)),
            ));
        }
        // An odd size, so that padding to a multiple and cropping back is exercised.
        let image = Shape::new(3, 37, 53);
        let out = &f.def.outputs[0];
        let mut inputs = vec![image];
        if k > 0 {
            inputs.push(Shape::new(k, 1, 1));
        }
        let shape = super::shape::infer_shapes(f, tensors, &inputs)?[out];
        if shape != image {
            return Err(ferr(
                "restore",
                format!(
                    "output `{out}` must have the image's shape ({image} for {image}), got {shape}"
                ),
            ));
        }
    }
    if k == 0 && functions.contains_key("classify") {
        return Err(ferr(
            "classify",
            "the model names no degradations for its probabilities".into(),
        ));
    }
    if let Some(f) = functions.get("classify") {
        if declared(f) != [3] {
            return Err(ferr(
                "classify",
                format!(
                    "input must be one 3-channel crop, got {:?} channels",
                    declared(f)
                ),
            ));
        }
        let out = &f.def.outputs[0];
        if f.channels[out] != k {
            return Err(ferr(
                "classify",
                format!(
                    "output `{out}` has {} channels, but the model names {k} degradations",
                    f.channels[out]
                ),
            ));
        }
    }
    if let Some(p) = &doc.prompt {
        if p.crop == 0 || p.crop > MAX_PROMPT_CROP || p.max_crops == 0 {
            return Err(Error::GraphJson(format!(
                "prompt: crop must be 1 to {MAX_PROMPT_CROP} and max_crops at least 1, got crop {} and max_crops {}",
                p.crop, p.max_crops
            )));
        }
        if let Some(f) = functions.get("classify") {
            let out = &f.def.outputs[0];
            let crop = Shape::new(3, p.crop, p.crop);
            let shape = super::shape::infer_shapes(f, tensors, &[crop])?[out];
            if shape != Shape::new(k, 1, 1) {
                return Err(ferr(
                    "classify",
                    format!("output `{out}` must be {k} x 1 x 1 for a {crop} crop, got {shape}"),
                ));
            }
        }
    }
    Ok(())
}
