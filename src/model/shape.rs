//! Shape inference for any input size.

use super::file::HostTensor;
use super::validate::CheckedFunction;
use crate::error::{Error, Result};
use crate::tensor::Shape;
use std::collections::{BTreeMap, HashMap};

/// Infers the shape of every value of `f` for the given input shapes.
pub fn infer_shapes(
    f: &CheckedFunction,
    tensors: &BTreeMap<String, HostTensor>,
    inputs: &[Shape],
) -> Result<HashMap<String, Shape>> {
    if inputs.len() != f.def.inputs.len() {
        return Err(Error::Input(format!(
            "function `{}` takes {} inputs, got {}",
            f.name,
            f.def.inputs.len(),
            inputs.len()
        )));
    }
    let mut shapes = HashMap::new();
    for (decl, s) in f.def.inputs.iter().zip(inputs) {
        if s.c != decl.channels || s.h == 0 || s.w == 0 {
            return Err(Error::Input(format!(
                "input `{}` of `{}` must have {} channels and a non-empty size, got {s}",
                decl.name, f.name, decl.channels
            )));
        }
        shapes.insert(decl.name.clone(), *s);
    }
    for (node, op) in f.def.nodes.iter().zip(&f.ops) {
        let ins: Vec<Shape> = node.inputs.iter().map(|v| shapes[v]).collect();
        let out_c = f.channels[&node.outputs[0]];
        let wshape = |slot: &str| tensors[&node.weights[slot]].shape.clone();
        let s = op.out_shape(node, &ins, out_c, &wshape)?;
        shapes.insert(node.outputs[0].clone(), s);
    }
    Ok(shapes)
}
