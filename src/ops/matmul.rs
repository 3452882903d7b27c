//! Launcher for shaders/matmul.wgsl: 1x1 convolution and linear layers, with the bias and
//! an optional residual added in the same pass, optionally on the layer norm of the input
//! (fused by src/fuse.rs); split over chunks of output and input channels when a value
//! spans several segments (segments.rs).

use super::segments::{chunks, Operand};
use super::{pitch, shader, u, Dispatch, Grid, NodeCtx, Res, ShaderDef};

pub static SHADER: ShaderDef = shader!("matmul", [Uniform, Read, Read, Read, Read, Write, Write]);

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

/// Scratch of a normed product: the per-pixel shift and sums (3 f32 planes).
pub fn scratch_bytes(ctx_x: crate::tensor::Shape) -> u64 {
    3 * pitch(ctx_x) as u64 * 4
}

/// out = weight * x (+ bias) (+ input 1 when `residual`), `norm` applied to x first;
/// weight [out.c, x.c] in slot `weight`, bias in `bias`; scratch 0 holds the norm's sums
/// when x spans several segments.
pub fn encode(ctx: &NodeCtx, bias: bool, residual: bool, norm: InputNorm) -> Vec<Dispatch> {
    let (x, out) = (ctx.ins[0], ctx.out);
    let (norm_kind, eps) = match norm {
        InputNorm::None => (0u8, 0.0f32),
        InputNorm::LayerNorm { eps } => (1, eps),
        InputNorm::BiasFree { eps } => (2, eps),
    };
    let n4 = x.plane().div_ceil(4);
    let max = super::max_groups_per_dim();
    let split = |groups: usize| -> (usize, usize) {
        if groups <= max {
            (groups, 1)
        } else {
            (max, groups.div_ceil(max))
        }
    };
    let (gx, gz) = split(n4.div_ceil(PX * 64));
    let in_chunks = chunks(x.c, &[Operand::same(&ctx.in_segs[0])]);
    let mut out_ops = vec![Operand::same(ctx.out_segs)];
    if residual {
        out_ops.push(Operand::same(&ctx.in_segs[1]));
    }
    let out_chunks = chunks(out.c, &out_ops);
    let stats = norm_kind != 0 && in_chunks.len() > 1;
    let mut dispatches = Vec::new();
    let params =
        |mc: &super::segments::Chunk, kc: &super::segments::Chunk, accumulate: bool| -> Vec<u32> {
            vec![
                u(mc.len()),
                u(kc.len()),
                u(n4),
                u(pitch(x) / 4),
                u(pitch(out) / 4),
                eps.to_bits(),
                u(mc.c0),
                u(kc.c0),
                u(x.c),
                u(kc.off(0)),
                u(mc.off(0)),
                if residual { u(mc.off(1)) } else { 0 },
                u32::from(accumulate),
                u(x.c),
            ]
        };
    let constants = vec![
        ("HAS_BIAS", f64::from(u8::from(bias))),
        ("HAS_RES", f64::from(u8::from(residual))),
        ("NORM", f64::from(norm_kind)),
        ("NORM_STATS", f64::from(u8::from(stats))),
    ];
    let stats_res = if norm_kind != 0 {
        Res::Scratch(0)
    } else {
        Res::Dummy
    };
    if stats {
        let (sx, sz) = split(n4.div_ceil(64));
        for (i, kc) in in_chunks.iter().enumerate() {
            dispatches.push(Dispatch {
                shader: &SHADER,
                entry: "norm_stats",
                variant: "",
                constants: vec![],
                params: params(&out_chunks[0], kc, i > 0),
                // dst is bound (and not written) so that no writable binding is a dummy
                // shared with another.
                bindings: vec![
                    Res::Input(0, kc.seg(0)),
                    Res::Dummy,
                    Res::Dummy,
                    Res::Dummy,
                    Res::Scratch(0),
                    Res::Output(out_chunks[0].seg(0)),
                ],
                workgroups: Grid::Dims([u(sx), 1, u(sz)]),
            });
        }
    }
    for mc in &out_chunks {
        for (i, kc) in in_chunks.iter().enumerate() {
            dispatches.push(Dispatch {
                shader: &SHADER,
                entry: "matmul",
                variant: "",
                constants: constants.clone(),
                params: params(mc, kc, i > 0),
                bindings: vec![
                    Res::Input(0, kc.seg(0)),
                    Res::Weight("weight"),
                    if bias {
                        Res::Weight("bias")
                    } else {
                        Res::Dummy
                    },
                    if residual {
                        Res::Input(1, mc.seg(1))
                    } else {
                        Res::Dummy
                    },
                    stats_res.clone(),
                    Res::Output(mc.seg(0)),
                ],
                workgroups: Grid::Dims([u(gx), u(mc.len().div_ceil(MB)), u(gz)]),
            });
        }
    }
    dispatches
}
