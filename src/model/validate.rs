//! Whole-file validation, before any GPU work: known ops, weights present and well shaped,
//! values produced once and before use, function outputs produced, no unreferenced tensor.

use super::file::HostTensor;
use super::graph::{Function, GraphDoc};
use super::op::Op;
use crate::error::{Error, Result};
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
