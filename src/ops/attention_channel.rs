//! Launcher for shaders/attention_channel.wgsl: L2 norms, blocked partial Gram matrices
//! over chunks of pixels, row softmax, apply; one set per run of heads whose q, k, v and
//! output lie in one segment each (segments.rs; one set, usually). Scratch: the 2c norms,
//! the per-chunk partial sums and the heads x d x d attention matrix.

use super::heads::{bind_head, pieces};
use super::segments::{chunks, splits_heads, Operand};
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
    let segs = &ctx.in_segs[0];
    // The four passes of one run of heads, given its parameters' varying part and bindings.
    let passes = |shader: &'static ShaderDef,
                  head0: usize,
                  n_heads: usize,
                  offs: [usize; 4],
                  pieces: [usize; 4],
                  bindings: Vec<Res>| {
        let params = vec![
            u(c),
            u(n),
            u(heads),
            u(d),
            u(quads),
            u(pixel_chunks(qkv)),
            u(CHUNK_QUADS),
            u(blocks),
            u(head0),
            u(n_heads),
            u(offs[1]),
            u(offs[2]),
            u(offs[3]),
            u(offs[0]),
            u(pieces[1]),
            u(pieces[2]),
            u(pieces[3]),
            u(pieces[0]),
        ];
        let mk = |entry: &'static str, workgroups: Grid| Dispatch {
            shader,
            entry,
            variant: "",
            constants: vec![],
            params: params.clone(),
            bindings: bindings.clone(),
            workgroups,
        };
        [
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
        ]
    };
    let mut dispatches = Vec::new();
    if splits_heads(segs, d) || splits_heads(ctx.out_segs, d) {
        for h in 0..heads {
            let [o, q, k, v] = bind_head(ctx, c, d, h)?;
            let mut bindings = Vec::with_capacity(20);
            for op in [&q, &k, &v] {
                bindings.extend(pieces(op, |s| Res::Input(0, s)));
            }
            bindings.extend([
                Res::Weight("temperature"),
                Res::Scratch(0),
                Res::Scratch(1),
                Res::Scratch(2),
            ]);
            bindings.extend(pieces(&o, Res::Output));
            dispatches.extend(passes(
                &SPLIT_SHADER,
                h,
                1,
                [o.offset, q.offset, k.offset, v.offset],
                [o.piece, q.piece, k.piece, v.piece],
                bindings,
            ));
        }
        return Ok(dispatches);
    }
    let ops = [
        Operand::same(ctx.out_segs),
        Operand::same(segs),
        Operand::shifted(segs, c),
        Operand::shifted(segs, 2 * c),
    ];
    for k in chunks(c, &ops) {
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
        dispatches.extend(passes(
            &SHADER,
            k.c0 / d,
            k.len() / d,
            [k.off(0), k.off(1), k.off(2), k.off(3)],
            [d; 4],
            bindings,
        ));
    }
    Ok(dispatches)
}
