//! The op table: parsing a node's attributes, the weight shapes each op requires, and the
//! output shape of each op (channels at load time, spatial size per input size).

use super::graph::Node;
use crate::error::{node_err, Error, Result};
use crate::tensor::Shape;

/// A parsed op with its attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Conv2d {
        kernel: usize,
        stride: usize,
        padding: usize,
        groups: usize,
        bias: bool,
    },
    Linear {
        bias: bool,
    },
    LayerNorm {
        eps: f32,
    },
    /// Restormer's BiasFree_LayerNorm: `x / sqrt(var + eps) * weight`, x not centred.
    BiasFreeLayerNorm {
        eps: f32,
    },
    ChannelAffine,
    ChannelAttention {
        heads: usize,
    },
    WindowAttention {
        heads: usize,
        window: usize,
    },
    GeluGate,
    PixelShuffle {
        factor: usize,
    },
    PixelUnshuffle {
        factor: usize,
    },
    Concat,
    ResizeBilinear,
    GlobalAvgPool,
    Softmax,
    Sigmoid,
    Relu,
    MaxPool {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    Add,
    WeightedAdd,
    ReflectPad {
        multiple: usize,
    },
    Crop,
    MixComponents,
    /// Internal, made by the fusion pass (src/fuse.rs), never read from a file: a 1x1
    /// convolution (weights `weight`, `bias`), on the layer norm of its input when `norm`
    /// (the norm's weight and bias folded into them), plus input 1 when `residual`.
    FusedMatmul {
        norm: FusedNorm,
        bias: bool,
        residual: bool,
    },
    /// Internal: a depthwise 3x3 convolution over 2m channels and the GELU gate after it.
    FusedDwGate {
        bias: bool,
    },
}

/// The norm a [`Op::FusedMatmul`] applies to its input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FusedNorm {
    None,
    LayerNorm { eps: f32 },
    BiasFree { eps: f32 },
}

/// All op names the runtime knows.
pub const OP_NAMES: &[&str] = &[
    "conv2d",
    "linear",
    "layer_norm",
    "bias_free_layer_norm",
    "channel_affine",
    "channel_attention",
    "window_attention",
    "gelu_gate",
    "pixel_shuffle",
    "pixel_unshuffle",
    "concat",
    "resize_bilinear",
    "global_avg_pool",
    "softmax",
    "sigmoid",
    "relu",
    "max_pool",
    "add",
    "weighted_add",
    "reflect_pad",
    "crop",
    "mix_components",
];

/// The largest integer attribute accepted.
pub const MAX_ATTR: u64 = 65535;

fn attr_usize(node: &Node, key: &str, default: Option<usize>) -> Result<usize> {
    match node.attrs.get(key) {
        None => default.ok_or_else(|| node_err(&node.name, format!("missing attribute `{key}`"))),
        Some(v) => {
            // Integral floats (3.0) are accepted.
            let u = match (v.as_u64(), v.as_f64()) {
                (Some(u), _) => u,
                (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 => f as u64,
                _ => {
                    return Err(node_err(
                        &node.name,
                        format!("attribute `{key}` must be a non-negative integer, got {v}"),
                    ))
                }
            };
            // No attribute (channels, kernel, stride, window, padding, multiple...) is
            // anywhere near this; the bound keeps the size arithmetic of shape inference
            // and dispatch far from overflow on a hostile file.
            if u > MAX_ATTR {
                return Err(node_err(
                    &node.name,
                    format!("attribute `{key}` is {u}, over the limit of {MAX_ATTR}"),
                ));
            }
            Ok(u as usize)
        }
    }
}

fn attr_f32(node: &Node, key: &str, default: Option<f32>) -> Result<f32> {
    match node.attrs.get(key) {
        None => default.ok_or_else(|| node_err(&node.name, format!("missing attribute `{key}`"))),
        Some(v) => v.as_f64().map(|f| f as f32).ok_or_else(|| {
            node_err(
                &node.name,
                format!("attribute `{key}` must be a number, got {v}"),
            )
        }),
    }
}

/// A normalization's `eps`: a positive normal f32. The runtime divides by `sqrt(var + eps)`,
/// so a negative eps gives NaN wherever the variance is smaller (every flat patch), zero
/// or a subnormal (flushed to zero on many GPUs) divides 0 by 0 there, and a NaN or an
/// infinity spreads to every pixel: each of them restores every image to black.
fn norm_eps(node: &Node) -> Result<f32> {
    let eps = attr_f32(node, "eps", Some(1e-5))?;
    if !(eps.is_normal() && eps > 0.0) {
        return Err(node_err(
            &node.name,
            format!(
                "attribute `eps` must be a positive number of at least {:e} (a normal f32), got {eps:e}; with it every restored pixel would be NaN",
                f32::MIN_POSITIVE
            ),
        ));
    }
    Ok(eps)
}

fn positive(node: &Node, key: &str, v: usize) -> Result<usize> {
    if v == 0 {
        Err(node_err(
            &node.name,
            format!("attribute `{key}` must be positive"),
        ))
    } else {
        Ok(v)
    }
}

impl Op {
    /// Parses `node.op` and its attributes; checks the input count and weight slot names.
    pub fn parse(node: &Node) -> Result<Op> {
        let n = node;
        let op = match n.op.as_str() {
            "conv2d" => {
                let kernel = positive(n, "kernel", attr_usize(n, "kernel", None)?)?;
                let padding = attr_usize(n, "padding", Some(0))?;
                // Zero padding of `kernel` or more adds output rows and columns that see no
                // input pixel at all (only the bias): no network uses it, and a large one
                // grows every later value until the image no longer fits the device, which
                // would fail on every image as "use a smaller image" instead of here.
                if padding >= kernel {
                    return Err(node_err(
                        &n.name,
                        format!(
                            "conv2d padding {padding} must be smaller than the kernel {kernel} (at most {} is of use)",
                            kernel - 1
                        ),
                    ));
                }
                Op::Conv2d {
                    kernel,
                    stride: positive(n, "stride", attr_usize(n, "stride", Some(1))?)?,
                    padding,
                    groups: positive(n, "groups", attr_usize(n, "groups", Some(1))?)?,
                    bias: n.weights.contains_key("bias"),
                }
            }
            "linear" => Op::Linear {
                bias: n.weights.contains_key("bias"),
            },
            "layer_norm" => Op::LayerNorm { eps: norm_eps(n)? },
            "bias_free_layer_norm" => Op::BiasFreeLayerNorm { eps: norm_eps(n)? },
            "channel_affine" => Op::ChannelAffine,
            "channel_attention" => Op::ChannelAttention {
                heads: positive(n, "heads", attr_usize(n, "heads", None)?)?,
            },
            "window_attention" => Op::WindowAttention {
                heads: positive(n, "heads", attr_usize(n, "heads", None)?)?,
                window: positive(n, "window", attr_usize(n, "window", None)?)?,
            },
            "gelu_gate" => Op::GeluGate,
            "pixel_shuffle" => Op::PixelShuffle {
                factor: positive(n, "factor", attr_usize(n, "factor", Some(2))?)?,
            },
            "pixel_unshuffle" => Op::PixelUnshuffle {
                factor: positive(n, "factor", attr_usize(n, "factor", Some(2))?)?,
            },
            "concat" => Op::Concat,
            "resize_bilinear" => Op::ResizeBilinear,
            "global_avg_pool" => Op::GlobalAvgPool,
            "softmax" => Op::Softmax,
            "sigmoid" => Op::Sigmoid,
            "relu" => Op::Relu,
            "max_pool" => {
                let kernel = positive(n, "kernel", attr_usize(n, "kernel", None)?)?;
                Op::MaxPool {
                    kernel,
                    stride: positive(n, "stride", attr_usize(n, "stride", Some(kernel))?)?,
                    padding: attr_usize(n, "padding", Some(0))?,
                }
            }
            "add" => Op::Add,
            "weighted_add" => Op::WeightedAdd,
            "reflect_pad" => Op::ReflectPad {
                multiple: positive(n, "multiple", attr_usize(n, "multiple", None)?)?,
            },
            "crop" => Op::Crop,
            "mix_components" => Op::MixComponents,
            other => {
                return Err(Error::UnknownOp {
                    node: n.name.clone(),
                    op: other.to_string(),
                })
            }
        };
        // Input count.
        let (min_in, max_in) = op.input_arity();
        if n.inputs.len() < min_in || n.inputs.len() > max_in {
            let want = if min_in == max_in {
                format!("{min_in}")
            } else if max_in == usize::MAX {
                format!("at least {min_in}")
            } else {
                format!("{min_in} to {max_in}")
            };
            return Err(node_err(
                &n.name,
                format!("op `{}` takes {want} inputs, got {}", n.op, n.inputs.len()),
            ));
        }
        if n.outputs.len() != 1 {
            return Err(node_err(
                &n.name,
                format!("op `{}` has one output, got {}", n.op, n.outputs.len()),
            ));
        }
        // Weight slots.
        let (required, optional) = op.weight_slots();
        for slot in n.weights.keys() {
            if !required.contains(&slot.as_str()) && !optional.contains(&slot.as_str()) {
                return Err(node_err(
                    &n.name,
                    format!("op `{}` has no weight slot `{slot}`", n.op),
                ));
            }
        }
        for slot in required {
            if !n.weights.contains_key(*slot) {
                return Err(node_err(
                    &n.name,
                    format!("weight slot `{slot}` is not given"),
                ));
            }
        }
        Ok(op)
    }

    fn input_arity(&self) -> (usize, usize) {
        match self {
            Op::Concat => (1, usize::MAX),
            Op::ResizeBilinear | Op::Add | Op::WeightedAdd | Op::Crop => (2, 2),
            Op::FusedMatmul { residual: true, .. } => (2, 2),
            _ => (1, 1),
        }
    }

    /// (required, optional) weight slots.
    pub fn weight_slots(&self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Op::Conv2d { .. } | Op::Linear { .. } => (&["weight"], &["bias"]),
            Op::LayerNorm { .. } => (&["weight", "bias"], &[]),
            Op::BiasFreeLayerNorm { .. } => (&["weight"], &[]),
            Op::ChannelAffine => (&["scale", "shift"], &[]),
            Op::ChannelAttention { .. } => (&["temperature"], &[]),
            Op::WindowAttention { .. } => (&["alpha"], &[]),
            Op::WeightedAdd => (&["wa", "wb"], &[]),
            Op::MixComponents => (&["components"], &[]),
            Op::FusedMatmul { .. } | Op::FusedDwGate { .. } => (&["weight"], &["bias"]),
            _ => (&[], &[]),
        }
    }

    /// Output channels from the input channels; checks every weight's shape.
    /// `wshape(slot)` returns the shape of the tensor in that slot (already known to exist).
    pub fn out_channels(
        &self,
        node: &Node,
        cin: &[usize],
        wshape: &dyn Fn(&str) -> Vec<usize>,
    ) -> Result<usize> {
        let name = &node.name;
        let expect = |slot: &str, expected: Vec<usize>| -> Result<()> {
            let found = wshape(slot);
            if found != expected {
                return Err(Error::TensorShape {
                    node: name.clone(),
                    tensor: node.weights[slot].clone(),
                    expected,
                    found,
                });
            }
            Ok(())
        };
        let c = cin[0];
        match *self {
            Op::Conv2d {
                kernel,
                groups,
                bias,
                ..
            } => {
                if !c.is_multiple_of(groups) {
                    return Err(node_err(
                        name,
                        format!("{c} input channels are not divisible by groups {groups}"),
                    ));
                }
                let ws = wshape("weight");
                let cout = ws.first().copied().unwrap_or(0);
                if cout == 0 || cout % groups != 0 {
                    return Err(Error::TensorShape {
                        node: name.clone(),
                        tensor: node.weights["weight"].clone(),
                        expected: vec![groups, c / groups, kernel, kernel],
                        found: ws,
                    });
                }
                expect("weight", vec![cout, c / groups, kernel, kernel])?;
                if bias {
                    expect("bias", vec![cout])?;
                }
                Ok(cout)
            }
            Op::Linear { bias } => {
                let ws = wshape("weight");
                let cout = ws.first().copied().unwrap_or(0);
                expect("weight", vec![cout.max(1), c])?;
                if bias {
                    expect("bias", vec![cout])?;
                }
                Ok(cout)
            }
            Op::LayerNorm { .. } => {
                expect("weight", vec![c])?;
                expect("bias", vec![c])?;
                Ok(c)
            }
            Op::BiasFreeLayerNorm { .. } => {
                expect("weight", vec![c])?;
                Ok(c)
            }
            Op::ChannelAffine => {
                expect("scale", vec![c])?;
                expect("shift", vec![c])?;
                Ok(c)
            }
            Op::ChannelAttention { heads } | Op::WindowAttention { heads, .. } => {
                if !c.is_multiple_of(3) || !(c / 3).is_multiple_of(heads) || c == 0 {
                    return Err(node_err(
                        name,
                        format!(
                            "qkv has {c} channels; expected 3 * c with c divisible by {heads} heads"
                        ),
                    ));
                }
                let slot = if matches!(self, Op::ChannelAttention { .. }) {
                    "temperature"
                } else {
                    "alpha"
                };
                expect(slot, vec![heads])?;
                Ok(c / 3)
            }
            Op::GeluGate => {
                if !c.is_multiple_of(2) {
                    return Err(node_err(
                        name,
                        format!("gelu_gate needs an even channel count, got {c}"),
                    ));
                }
                Ok(c / 2)
            }
            Op::PixelShuffle { factor } => {
                let r2 = factor * factor;
                if !c.is_multiple_of(r2) {
                    return Err(node_err(
                        name,
                        format!("pixel_shuffle needs channels divisible by {r2}, got {c}"),
                    ));
                }
                Ok(c / r2)
            }
            Op::PixelUnshuffle { factor } => Ok(c * factor * factor),
            Op::Concat => Ok(cin.iter().sum()),
            Op::Add | Op::WeightedAdd => {
                if cin[0] != cin[1] {
                    return Err(node_err(
                        name,
                        format!("inputs have {} and {} channels", cin[0], cin[1]),
                    ));
                }
                if matches!(self, Op::WeightedAdd) {
                    expect("wa", vec![1])?;
                    expect("wb", vec![1])?;
                }
                Ok(c)
            }
            Op::MixComponents => {
                let ws = wshape("components");
                if ws.len() != 4 || ws[0] != c || ws[1] == 0 || ws[2] == 0 || ws[3] == 0 {
                    let mut expected = vec![c, 0, 0, 0];
                    if ws.len() == 4 {
                        expected[1..].copy_from_slice(&ws[1..]);
                    }
                    return Err(Error::TensorShape {
                        node: name.clone(),
                        tensor: node.weights["components"].clone(),
                        expected,
                        found: ws,
                    });
                }
                if ws[2] != ws[3] {
                    return Err(node_err(
                        name,
                        format!("components must be square, got {ws:?}"),
                    ));
                }
                Ok(ws[1])
            }
            Op::ResizeBilinear
            | Op::GlobalAvgPool
            | Op::Softmax
            | Op::Sigmoid
            | Op::Relu
            | Op::MaxPool { .. }
            | Op::ReflectPad { .. }
            | Op::Crop => Ok(c),
            // Made from checked nodes by the fusion pass: the weight gives the channels.
            Op::FusedMatmul { .. } => Ok(wshape("weight")[0]),
            Op::FusedDwGate { .. } => Ok(c / 2),
        }
    }

    /// Full output shape given the input shapes (channels as from `out_channels`).
    pub fn out_shape(
        &self,
        node: &Node,
        ins: &[Shape],
        out_c: usize,
        wshape: &dyn Fn(&str) -> Vec<usize>,
    ) -> Result<Shape> {
        let name = &node.name;
        let x = ins[0];
        let window_out = |k: usize, s: usize, p: usize, what: &str| -> Result<(usize, usize)> {
            if x.h + 2 * p < k || x.w + 2 * p < k {
                return Err(node_err(
                    name,
                    format!(
                        "{what} kernel {k} (padding {p}) is larger than the {}x{} input",
                        x.h, x.w
                    ),
                ));
            }
            Ok(((x.h + 2 * p - k) / s + 1, (x.w + 2 * p - k) / s + 1))
        };
        let same_hw = |a: Shape, b: Shape| -> Result<()> {
            if a.h != b.h || a.w != b.w {
                return Err(node_err(
                    name,
                    format!("inputs have different sizes {a} and {b}"),
                ));
            }
            Ok(())
        };
        let s = match *self {
            Op::Conv2d {
                kernel,
                stride,
                padding,
                ..
            } => {
                let (h, w) = window_out(kernel, stride, padding, "conv2d")?;
                Shape::new(out_c, h, w)
            }
            Op::MaxPool {
                kernel,
                stride,
                padding,
            } => {
                if 2 * padding > kernel {
                    return Err(node_err(
                        name,
                        "max_pool padding must be at most half the kernel",
                    ));
                }
                let (h, w) = window_out(kernel, stride, padding, "max_pool")?;
                Shape::new(out_c, h, w)
            }
            Op::Linear { .. } => {
                if x.h != 1 || x.w != 1 {
                    return Err(node_err(
                        name,
                        format!("linear needs a Cx1x1 input, got {x}"),
                    ));
                }
                Shape::new(out_c, 1, 1)
            }
            Op::MixComponents => {
                if x.h != 1 || x.w != 1 {
                    return Err(node_err(
                        name,
                        format!("mix_components needs an Lx1x1 input, got {x}"),
                    ));
                }
                let ws = wshape("components");
                Shape::new(out_c, ws[2], ws[3])
            }
            Op::PixelShuffle { factor } => Shape::new(out_c, x.h * factor, x.w * factor),
            Op::PixelUnshuffle { factor } => {
                if !x.h.is_multiple_of(factor) || !x.w.is_multiple_of(factor) {
                    return Err(node_err(
                        name,
                        format!("pixel_unshuffle needs H and W divisible by {factor}, got {x}"),
                    ));
                }
                Shape::new(out_c, x.h / factor, x.w / factor)
            }
            Op::Concat => {
                for other in &ins[1..] {
                    same_hw(x, *other)?;
                }
                Shape::new(out_c, x.h, x.w)
            }
            Op::Add | Op::WeightedAdd => {
                if ins[0] != ins[1] {
                    return Err(node_err(
                        name,
                        format!("inputs have different shapes {} and {}", ins[0], ins[1]),
                    ));
                }
                x
            }
            Op::ResizeBilinear => Shape::new(out_c, ins[1].h, ins[1].w),
            Op::GlobalAvgPool => Shape::new(out_c, 1, 1),
            Op::ReflectPad { multiple } => {
                let up = |n: usize| n.div_ceil(multiple) * multiple;
                Shape::new(out_c, up(x.h), up(x.w))
            }
            Op::Crop => {
                let like = ins[1];
                if like.h > x.h || like.w > x.w {
                    return Err(node_err(
                        name,
                        format!("cannot crop {x} to the larger size {}x{}", like.h, like.w),
                    ));
                }
                Shape::new(out_c, like.h, like.w)
            }
            Op::LayerNorm { .. }
            | Op::BiasFreeLayerNorm { .. }
            | Op::ChannelAffine
            | Op::ChannelAttention { .. }
            | Op::WindowAttention { .. }
            | Op::GeluGate
            | Op::Softmax
            | Op::Sigmoid
            | Op::Relu
            | Op::FusedMatmul { .. }
            | Op::FusedDwGate { .. } => Shape::new(out_c, x.h, x.w),
        };
        if s.numel() == 0 {
            return Err(node_err(name, format!("output shape {s} is empty")));
        }
        Ok(s)
    }
}
