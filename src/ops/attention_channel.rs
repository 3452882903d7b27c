//! Launcher for shaders/attention_channel.wgsl: L2 norms, blocked partial Gram matrices
//! over chunks of pixels, row softmax, apply. Scratch: the 2c norms, the per-chunk partial
//! sums and the heads x d x d attention matrix.

use super::{pitch, shader, u, Dispatch, Grid, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!(
    "attention_channel",
    [Uniform, Read, Read, Write, Write, Write, Write]
);

/// Entries per block side of the gram pass (IB), quads (PX) and rows (MB) per thread of the
/// apply pass, as in the shader.
const IB: usize = 4;
const PX: usize = 4;
const MB: usize = 8;
/// Quads per chunk of the gram pass: enough work per workgroup, few chunks to sum.
const CHUNK_QUADS: usize = 2048;

fn chunks(qkv: Shape) -> usize {
    qkv.plane().div_ceil(4).div_ceil(CHUNK_QUADS).max(1)
}

pub fn scratch_bytes(heads: usize, qkv: Shape, _out: Shape) -> Vec<u64> {
    let c = qkv.c / 3;
    let d = c / heads;
    vec![
        (2 * c * 4) as u64,
        (chunks(qkv) * heads * d * d * 4) as u64,
        (heads * d * d * 4) as u64,
    ]
}

pub fn encode(qkv: Shape, heads: usize) -> Vec<Dispatch> {
    let c = qkv.c / 3;
    let d = c / heads;
    let n = qkv.plane();
    let blocks = d.div_ceil(IB);
    let quads = pitch(qkv) / 4;
    let params = vec![
        u(c),
        u(n),
        u(heads),
        u(d),
        u(quads),
        u(chunks(qkv)),
        u(CHUNK_QUADS),
        u(blocks),
    ];
    let bindings = vec![
        Res::Input(0),
        Res::Weight("temperature"),
        Res::Scratch(0),
        Res::Scratch(1),
        Res::Scratch(2),
        Res::Output,
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
    vec![
        mk("l2norm", Grid::Linear(u(2 * c))),
        mk(
            "gram",
            Grid::Dims([u(chunks(qkv)), u(heads * blocks * blocks), 1]),
        ),
        mk("softmax_rows", Grid::Linear(u((heads * d).div_ceil(64)))),
        mk(
            "apply",
            Grid::Dims([u(quads.div_ceil(PX * 64)), u(heads * d.div_ceil(MB)), 1]),
        ),
    ]
}
