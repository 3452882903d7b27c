//! Launcher for shaders/matmul.wgsl: 1x1 convolution and linear layers, with the bias and
//! an optional residual added in the same pass, optionally on the layer norm of the input
//! (fused by src/fuse.rs).

use super::{pitch, shader, u, Dispatch, Grid, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("matmul", [Uniform, Read, Read, Read, Read, Write]);

/// Pixel quads per thread and output channels per workgroup row (the shader's PX, MB).
const PX: usize = 4;
const MB: usize = 8;

/// A norm applied to the input's channels at each pixel before the product.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InputNorm {
    None,
    /// (x - mean) / sqrt(var + eps); its weight and bias folded into the product's.
    LayerNorm {
        eps: f32,
    },
    /// x / sqrt(var + eps) (Restormer's bias-free form); its weight folded.
    BiasFree {
        eps: f32,
    },
}

/// out = weight * x (+ bias) over the pixels of `x` (`out` has the same plane size);
/// weight [out.c, x.c] in slot `weight`, bias in `bias`.
pub fn encode(x: Shape, out: Shape, bias: bool) -> Dispatch {
    fused(x, out, bias, false, InputNorm::None)
}

/// As [`encode`], plus input 1 (of `out`'s shape) added to the result when `residual`, and
/// `norm` applied to x first.
pub fn fused(x: Shape, out: Shape, bias: bool, residual: bool, norm: InputNorm) -> Dispatch {
    let (norm_kind, eps) = match norm {
        InputNorm::None => (0u8, 0.0f32),
        InputNorm::LayerNorm { eps } => (1, eps),
        InputNorm::BiasFree { eps } => (2, eps),
    };
    let n4 = x.plane().div_ceil(4);
    let groups_n = n4.div_ceil(PX * 64);
    // Pixel groups beyond the per-dimension limit continue along z.
    let max = super::max_groups_per_dim();
    let (gx, gz) = if groups_n <= max {
        (groups_n, 1)
    } else {
        (max, groups_n.div_ceil(max))
    };
    Dispatch {
        shader: &SHADER,
        entry: "matmul",
        variant: "",
        constants: vec![
            ("HAS_BIAS", f64::from(u8::from(bias))),
            ("HAS_RES", f64::from(u8::from(residual))),
            ("NORM", f64::from(norm_kind)),
        ],
        params: vec![
            u(out.c),
            u(x.c),
            u(n4),
            u(pitch(x) / 4),
            u(pitch(out) / 4),
            eps.to_bits(),
        ],
        bindings: vec![
            Res::Input(0),
            Res::Weight("weight"),
            if bias {
                Res::Weight("bias")
            } else {
                Res::Dummy
            },
            if residual { Res::Input(1) } else { Res::Dummy },
            Res::Output,
        ],
        workgroups: Grid::Dims([u(gx), u(out.c.div_ceil(MB)), u(gz)]),
    }
}
