//! Launcher for shaders/attention_channel.wgsl: L2 norms, blocked partial Gram matrices
//! over chunks of pixels, row softmax, apply; one set per run of heads whose q, k, v and
//! output lie in one segment each (segments.rs; one set, usually). Scratch: the 2c norms,
//! the per-chunk partial sums and the heads x d x d attention matrix.

use super::segments::{chunks, Operand};
use super::{pitch, shader, u, Dispatch, Grid, NodeCtx, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!(
    "attention_channel",
    [Uniform, Read, Read, Read, Read, Write, Write, Write, Write]
);

/// Entries per block side of the gram pass (IB), quads (PX) and rows (MB) per thread of the
/// apply pass, as in the shader.
const IB: usize = 4;
const PX: usize = 4;
const MB: usize = 8;
/// Quads per chunk of the gram pass: enough work per workgroup, few chunks to sum.
const CHUNK_QUADS: usize = 2048;

fn pixel_chunks(qkv: Shape) -> usize {
    qkv.plane().div_ceil(4).div_ceil(CHUNK_QUADS).max(1)
}

pub fn scratch_bytes(heads: usize, qkv: Shape, _out: Shape) -> Vec<u64> {
    let c = qkv.c / 3;
    let d = c / heads;
    vec![
        (2 * c * 4) as u64,
        (pixel_chunks(qkv) * heads * d * d * 4) as u64,
        (heads * d * d * 4) as u64,
    ]
}

pub fn encode(ctx: &NodeCtx, heads: usize) -> Vec<Dispatch> {
    let qkv = ctx.ins[0];
    let c = qkv.c / 3;
    let d = c / heads;
    let n = qkv.plane();
    let blocks = d.div_ceil(IB);
    let quads = pitch(qkv) / 4;
    let segs = &ctx.in_segs[0];
    let ops = [
        Operand::same(ctx.out_segs),
        Operand::same(segs),
        Operand::shifted(segs, c),
        Operand::shifted(segs, 2 * c),
    ];
    let mut dispatches = Vec::new();
    for k in chunks(c, &ops) {
        let n_heads = k.len() / d;
        let params = vec![
            u(c),
            u(n),
            u(heads),
            u(d),
            u(quads),
            u(pixel_chunks(qkv)),
            u(CHUNK_QUADS),
            u(blocks),
            u(k.c0 / d),
            u(n_heads),
            u(k.off(1)),
            u(k.off(2)),
            u(k.off(3)),
            u(k.off(0)),
        ];
        let bindings = vec![
            Res::Input(0, k.seg(1)),
            Res::Input(0, k.seg(2)),
            Res::Input(0, k.seg(3)),
            Res::Weight("temperature"),
            Res::Scratch(0),
            Res::Scratch(1),
            Res::Scratch(2),
            Res::Output(k.seg(0)),
        ];
        let mk = |entry: &'static str, workgroups: Grid| Dispatch {
            shader: &SHADER,
            entry,
            variant: "",
            constants: vec![],
            params: params.clone(),
            bindings: bindings.clone(),
            workgroups,
        };
        dispatches.extend([
            mk("l2norm", Grid::Linear(u(2 * n_heads * d))),
            mk(
                "gram",
                Grid::Dims([u(pixel_chunks(qkv)), u(n_heads * blocks * blocks), 1]),
            ),
            mk("softmax_rows", Grid::Linear(u((n_heads * d).div_ceil(64)))),
            mk(
                "apply",
                Grid::Dims([u(quads.div_ceil(PX * 64)), u(n_heads * d.div_ceil(MB)), 1]),
            ),
        ]);
    }
    dispatches
}
