//! The work and the memory traffic of each op: floating-point operations and the bytes a
//! single pass over its inputs, output and weights moves. `bench` divides them by the
//! measured times to show how far each op family runs from the device's arithmetic and
//! memory limits.

use crate::model::{FusedNorm, Op};
use crate::ops::Precision;
use crate::tensor::Shape;

/// Floating-point operations and bytes moved by one node.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    pub flops: f64,
    pub bytes: f64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        self.flops += o.flops;
        self.bytes += o.bytes;
    }
}

/// Operations a GELU takes (erf by a polynomial and an exp), counted as arithmetic.
const GELU_FLOPS: f64 = 20.0;

/// The cost of a node with input shapes `ins`, output `out` and `weights` weight elements,
/// values stored in `precision`.
pub fn node_cost(op: &Op, ins: &[Shape], out: Shape, weights: usize, precision: Precision) -> Cost {
    let x = ins[0];
    let n = |s: Shape| s.numel() as f64;
    let flops = match *op {
        Op::Conv2d { kernel, groups, .. } => 2.0 * n(out) * (x.c / groups * kernel * kernel) as f64,
        Op::Linear { .. } => 2.0 * (out.c * x.c) as f64,
        Op::FusedMatmul { norm, residual, .. } => {
            let norm = if norm == FusedNorm::None {
                0.0
            } else {
                6.0 * n(x)
            };
            2.0 * n(out) * x.c as f64 + norm + if residual { n(out) } else { 0.0 }
        }
        Op::FusedDwGate { .. } => 2.0 * 9.0 * n(x) + (GELU_FLOPS + 1.0) * n(out),
        Op::LayerNorm { .. } | Op::BiasFreeLayerNorm { .. } => 8.0 * n(x),
        Op::ChannelAttention { heads } => {
            let (c, p) = (x.c / 3, x.plane() as f64);
            let d = (c / heads) as f64;
            // Norms of q and k, q k^T, A v.
            4.0 * c as f64 * p + 4.0 * d * d * p * heads as f64
        }
        Op::WindowAttention { heads, window } => {
            let d = (x.c / 3 / heads) as f64;
            // Per query and key: the dot product, the weighted sum of v, two exps.
            out.plane() as f64 * heads as f64 * (window * window) as f64 * (4.0 * d + 4.0)
        }
        Op::GeluGate => (GELU_FLOPS + 1.0) * n(out),
        Op::Add | Op::Relu | Op::ChannelAffine => n(out),
        Op::WeightedAdd => 3.0 * n(out),
        Op::Sigmoid | Op::Softmax => 4.0 * n(out),
        Op::ResizeBilinear => 8.0 * n(out),
        Op::GlobalAvgPool => n(x),
        Op::MaxPool { kernel, .. } => n(out) * (kernel * kernel) as f64,
        Op::MixComponents => 2.0 * n(out) * x.c as f64,
        Op::PixelShuffle { .. }
        | Op::PixelUnshuffle { .. }
        | Op::Concat
        | Op::ReflectPad { .. }
        | Op::Crop => 0.0,
    };
    let elements: f64 = ins.iter().map(|&s| n(s)).sum::<f64>() + n(out) + weights as f64;
    Cost {
        flops,
        bytes: elements * precision.bytes() as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1x1_conv_counts_two_flops_per_multiply_add() {
        let op = Op::Conv2d {
            kernel: 1,
            stride: 1,
            padding: 0,
            groups: 1,
            bias: false,
        };
        let x = Shape::new(16, 10, 10);
        let out = Shape::new(32, 10, 10);
        let c = node_cost(&op, &[x], out, 32 * 16, Precision::F32);
        assert_eq!(c.flops, 2.0 * 32.0 * 16.0 * 100.0);
        assert_eq!(c.bytes, (1600.0 + 3200.0 + 512.0) * 4.0);
        let half = node_cost(&op, &[x], out, 32 * 16, Precision::F16);
        assert_eq!(half.bytes * 2.0, c.bytes);
    }
}
