//! Fusion, at load: a node whose only reader is one of a few known consumers runs in one
//! kernel with it, so the value between them is never written to memory and read back.
//! Every op of these networks is memory-bound somewhere (the channels are few), so a pass
//! saved is time saved; the patterns are the ones both the project's model and the
//! Restormer/PromptIR blocks repeat:
//! - layer norm (with or without bias) -> 1x1 convolution: the norm's weight and bias are
//!   folded into the convolution's (`W' = W diag(g)`, `b' = W beta + b`, in f64), and the
//!   matmul kernel normalizes each pixel as it reads it;
//! - 1x1 convolution -> add (a residual): the add happens in the matmul's epilogue;
//! - depthwise 3x3 over 2m channels -> GELU gate: one kernel computes both halves.
//!
//! The fused graph computes the same function (each fused kernel has a parity test against
//! its unfused nodes, and the end-to-end tests compare with PyTorch). A value that is a
//! function output, or read by anything else, is never fused away.

use crate::model::{CheckedFunction, FusedNorm, HostTensor, Node, Op};
use std::collections::{BTreeMap, HashMap};

/// A function after fusion, with the folded weight tensors it adds.
#[derive(Clone, Debug)]
pub struct Fused {
    pub function: CheckedFunction,
    pub tensors: BTreeMap<String, HostTensor>,
}

fn is_conv1x1(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv2d {
            kernel: 1,
            stride: 1,
            padding: 0,
            groups: 1,
            ..
        }
    )
}

/// The fused form of `f` (see the module comment).
pub fn fuse(f: &CheckedFunction, tensors: &BTreeMap<String, HostTensor>) -> Fused {
    let nodes = &f.def.nodes;
    // Readers of each value; function outputs count as a reader that cannot be fused.
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for v in &n.inputs {
            readers.entry(v).or_default().push(i);
        }
    }
    for o in &f.def.outputs {
        readers.entry(o).or_default().push(usize::MAX);
    }
    // The one node that reads `v`, if there is exactly one.
    let sole_reader = |v: &str| -> Option<usize> {
        match readers.get(v).map(Vec::as_slice) {
            Some([r]) if *r != usize::MAX => Some(*r),
            _ => None,
        }
    };
    let mut extra = BTreeMap::new();
    // What replaces each node: None to drop it (absorbed), Some to emit at its position.
    let mut emit: Vec<Option<(Node, Op)>> = nodes
        .iter()
        .zip(&f.ops)
        .map(|(n, o)| Some((n.clone(), o.clone())))
        .collect();
    let mut absorbed = vec![false; nodes.len()];
    for (i, (node, op)) in nodes.iter().zip(&f.ops).enumerate() {
        if absorbed[i] {
            continue;
        }
        // Depthwise 3x3 over an even channel count -> gelu_gate.
        if let Op::Conv2d {
            kernel: 3,
            stride: 1,
            padding: 1,
            groups,
            bias,
        } = *op
        {
            let c = f.channels[&node.inputs[0]];
            let out = &node.outputs[0];
            if groups == c && f.channels[out] == c && c.is_multiple_of(2) {
                if let Some(j) =
                    sole_reader(out).filter(|&j| f.ops[j] == Op::GeluGate && !absorbed[j])
                {
                    let gate = &nodes[j];
                    let fused = Node {
                        name: format!("{}+{}", node.name, gate.name),
                        op: "fused_dw_gate".into(),
                        inputs: node.inputs.clone(),
                        outputs: gate.outputs.clone(),
                        attrs: BTreeMap::new(),
                        weights: node.weights.clone(),
                    };
                    emit[i] = None;
                    emit[j] = Some((fused, Op::FusedDwGate { bias }));
                    absorbed[j] = true;
                    continue;
                }
            }
        }
        // [layer norm ->] 1x1 conv [-> add].
        if !is_conv1x1(op) {
            continue;
        }
        let Op::Conv2d { bias, .. } = *op else {
            unreachable!()
        };
        let mut inputs = node.inputs.clone();
        let mut weights = node.weights.clone();
        let mut name = node.name.clone();
        let mut norm = FusedNorm::None;
        let mut has_bias = bias;
        if let Some(p) = nodes.iter().position(|n| n.outputs[0] == node.inputs[0]) {
            let ln = &nodes[p];
            let kind = match f.ops[p] {
                Op::LayerNorm { eps } => Some(FusedNorm::LayerNorm { eps }),
                Op::BiasFreeLayerNorm { eps } => Some(FusedNorm::BiasFree { eps }),
                _ => None,
            };
            if let (Some(kind), Some(_)) = (kind, sole_reader(&ln.outputs[0])) {
                let (w, b) = fold_norm(node, ln, tensors);
                let wname = format!("{}@{}", node.weights["weight"], ln.name);
                weights.insert("weight".into(), wname.clone());
                extra.insert(wname, w);
                if let Some(b) = b {
                    let bname = format!("{}.bias@{}", node.name, ln.name);
                    weights.insert("bias".into(), bname.clone());
                    extra.insert(bname, b);
                    has_bias = true;
                }
                inputs = ln.inputs.clone();
                name = format!("{}+{}", ln.name, name);
                norm = kind;
                emit[p] = None;
                absorbed[p] = true;
            }
        }
        let mut outputs = node.outputs.clone();
        let mut residual = false;
        let mut at = i;
        // An add takes one convolution at most (a ResNet block adds two).
        if let Some(j) =
            sole_reader(&node.outputs[0]).filter(|&j| f.ops[j] == Op::Add && !absorbed[j])
        {
            let add = &nodes[j];
            let other = if add.inputs[0] == node.outputs[0] {
                &add.inputs[1]
            } else {
                &add.inputs[0]
            };
            if *other != node.outputs[0] {
                inputs.push(other.clone());
                outputs = add.outputs.clone();
                name = format!("{}+{}", name, add.name);
                residual = true;
                emit[i] = None;
                absorbed[j] = true;
                at = j;
            }
        }
        if norm == FusedNorm::None && !residual {
            continue;
        }
        let fused = Node {
            name,
            op: "fused_matmul".into(),
            inputs,
            outputs,
            attrs: BTreeMap::new(),
            weights,
        };
        emit[at] = Some((
            fused,
            Op::FusedMatmul {
                norm,
                bias: has_bias,
                residual,
            },
        ));
    }
    let (nodes, ops): (Vec<Node>, Vec<Op>) = emit.into_iter().flatten().unzip();
    let mut function = f.clone();
    function.def.nodes = nodes;
    function.ops = ops;
    Fused {
        function,
        tensors: extra,
    }
}

/// The weight and bias of 1x1 convolution `conv` with the affine part of layer norm `ln`
/// folded in: W'[m, k] = W[m, k] g[k]; b'[m] = sum_k W[m, k] beta[k] + b[m] (no bias term
/// for a bias-free norm without a conv bias). Computed in f64.
fn fold_norm(
    conv: &Node,
    ln: &Node,
    tensors: &BTreeMap<String, HostTensor>,
) -> (HostTensor, Option<HostTensor>) {
    let w = &tensors[&conv.weights["weight"]];
    let g = &tensors[&ln.weights["weight"]].data;
    let beta = ln.weights.get("bias").map(|b| &tensors[b].data);
    let cb = conv.weights.get("bias").map(|b| &tensors[b].data);
    let (m, k) = (w.shape[0], w.shape[1]);
    let mut wf = Vec::with_capacity(m * k);
    let mut bf = Vec::with_capacity(m);
    for r in 0..m {
        let row = &w.data[r * k..(r + 1) * k];
        let mut b = cb.map_or(0.0, |cb| cb[r] as f64);
        for c in 0..k {
            wf.push((row[c] as f64 * g[c] as f64) as f32);
            if let Some(beta) = beta {
                b += row[c] as f64 * beta[c] as f64;
            }
        }
        bf.push(b as f32);
    }
    let bias = (beta.is_some() || cb.is_some()).then(|| HostTensor {
        shape: vec![m],
        data: bf,
    });
    (
        HostTensor {
            shape: w.shape.clone(),
            data: wf,
        },
        bias,
    )
}
