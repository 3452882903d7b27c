//! Launcher for shaders/attention_channel.wgsl: L2 norms, blocked partial Gram matrices
//! over chunks of pixels, row softmax, apply; one set per run of heads whose q, k, v and
//! output lie in one segment each (segments.rs; one set, usually). Scratch: the 2c norms,
//! the per-chunk partial sums and the heads x d x d attention matrix.

use super::heads::runs;
use super::{pitch, shader, u, Dispatch, Grid, NodeCtx, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!(
    "attention_channel",
    ["attention_channel", "attention_channel_bind"],
    [Uniform, Read, Read, Read, Read, Write, Write, Write, Write]
);

/// The variant whose q, k, v and output each take up to four bindings, for a value whose
/// single head is over the binding limit (one set of dispatches per head).
pub static SPLIT_SHADER: ShaderDef = shader!(
    "attention_channel_split",
    ["attention_channel", "attention_channel_split"],
    [
        Uniform, Read, Read, Read, Read, Read, Read, Read, Read, Read, Read, Read, Read, Read,
        Write, Write, Write, Write, Write, Write, Write
    ]
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

pub fn encode(ctx: &NodeCtx, heads: usize) -> crate::Result<Vec<Dispatch>> {
    let qkv = ctx.ins[0];
    let c = qkv.c / 3;
    let d = c / heads;
    let n = qkv.plane();
    let blocks = d.div_ceil(IB);
    let quads = pitch(qkv) / 4;
    let between = [
        Res::Weight("temperature"),
        Res::Scratch(0),
        Res::Scratch(1),
        Res::Scratch(2),
    ];
    let (split, runs) = runs(ctx, heads, &between)?;
    let mut dispatches = Vec::with_capacity(4 * runs.len());
    for r in runs {
        let params = vec![
            u(c),
            u(n),
            u(heads),
            u(d),
            u(quads),
            u(pixel_chunks(qkv)),
            u(CHUNK_QUADS),
            u(blocks),
            u(r.head0),
            u(r.n_heads),
            u(r.offsets[1]),
            u(r.offsets[2]),
            u(r.offsets[3]),
            u(r.offsets[0]),
            u(r.pieces[1]),
            u(r.pieces[2]),
            u(r.pieces[3]),
            u(r.pieces[0]),
        ];
        let mk = |entry: &'static str, workgroups: Grid| Dispatch {
            shader: if split { &SPLIT_SHADER } else { &SHADER },
            entry,
            variant: "",
            constants: vec![],
            params: params.clone(),
            bindings: r.bindings.clone(),
            workgroups,
        };
        let n_heads = r.n_heads;
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
    Ok(dispatches)
}
