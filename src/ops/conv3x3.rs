//! Launcher for shaders/conv3x3.wgsl: 3x3 stride-1 padding-1 convolutions (dense and
//! depthwise, and depthwise fused with the GELU gate), any width, over chunks of channels
//! that lie in one segment of each value (segments.rs; one chunk, usually).

use super::segments::{chunks, Chunk, Operand};
use super::{pitch, shader, u, Dispatch, Grid, NodeCtx, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("conv3x3", [Uniform, Read, Read, Read, Read, Write]);

/// Output rows per thread of `dw3x3` (RQ); quads (QN) and output channels (CB) per
/// thread of `conv3x3`.
const RQ: usize = 4;
const QN: usize = 4;
const CB: usize = 4;

/// Workgroups of 64 threads for `threads` threads per channel block, over x (continued on
/// y past the per-dimension limit), and `blocks` channel blocks on z.
fn grid(threads: usize, blocks: usize) -> Grid {
    let groups = threads.div_ceil(64);
    let max = super::max_groups_per_dim();
    let (x, y) = if groups <= max {
        (groups, 1)
    } else {
        (max, groups.div_ceil(max))
    };
    Grid::Dims([u(x), u(y), u(blocks)])
}

/// Whether a convolution can take this file's kernels: 3x3, stride 1, padding 1 (dense or
/// depthwise, checked by [`encode`]).
pub fn applies(k: usize, stride: usize, padding: usize) -> bool {
    k == 3 && stride == 1 && padding == 1
}

/// The parameters of one chunk: (input chunk channels, output chunk, input chunk).
#[allow(clippy::too_many_arguments)]
fn params(
    x: Shape,
    cin: usize,
    cout: usize,
    bias: bool,
    half: usize,
    oc: &Chunk,
    ic: Option<&Chunk>,
    x2_off: usize,
) -> Vec<u32> {
    let (ci0, x_off, accumulate) = match ic {
        Some(ic) => (ic.c0, ic.off(0), ic.c0 > 0),
        None => (0, oc.off(1), false),
    };
    vec![
        u(cin),
        u(x.h),
        u(x.w),
        u(cout),
        u32::from(bias),
        u(pitch(x)),
        u(half),
        u(oc.c0),
        u(ci0),
        u(x.c),
        u(x_off),
        u(x2_off),
        u(oc.off(0)),
        u32::from(accumulate),
    ]
}

fn bias_res(bias: bool) -> Res {
    if bias {
        Res::Weight("bias")
    } else {
        Res::Dummy
    }
}

/// The dispatches of a dense or depthwise 3x3 convolution, or `None` when it needs the
/// general kernels.
pub fn encode(
    ctx: &NodeCtx,
    k: usize,
    stride: usize,
    padding: usize,
    groups: usize,
    bias: bool,
) -> Option<Vec<Dispatch>> {
    let (x, out) = (ctx.ins[0], ctx.out);
    if !applies(k, stride, padding) {
        return None;
    }
    let quads = x.w.div_ceil(4);
    if groups == 1 {
        let out_chunks = chunks(out.c, &[Operand::same(ctx.out_segs)]);
        let in_chunks = chunks(x.c, &[Operand::same(&ctx.in_segs[0])]);
        let mut v = Vec::new();
        for oc in &out_chunks {
            for ic in &in_chunks {
                v.push(Dispatch {
                    shader: &SHADER,
                    entry: "conv3x3",
                    variant: "",
                    constants: vec![],
                    params: params(x, ic.len(), oc.len(), bias, 0, oc, Some(ic), 0),
                    bindings: vec![
                        Res::Input(0, ic.seg(0)),
                        Res::Dummy,
                        Res::Weight("weight"),
                        bias_res(bias),
                        Res::Output(oc.seg(0)),
                    ],
                    workgroups: grid(x.h * quads.div_ceil(QN), oc.len().div_ceil(CB)),
                });
            }
        }
        Some(v)
    } else if groups == x.c && out.c == x.c {
        let ops = [Operand::same(ctx.out_segs), Operand::same(&ctx.in_segs[0])];
        Some(
            chunks(x.c, &ops)
                .iter()
                .map(|c| Dispatch {
                    shader: &SHADER,
                    entry: "dw3x3",
                    variant: "",
                    constants: vec![],
                    params: params(x, c.len(), c.len(), bias, 0, c, None, 0),
                    bindings: vec![
                        Res::Input(0, c.seg(1)),
                        Res::Dummy,
                        Res::Weight("weight"),
                        bias_res(bias),
                        Res::Output(c.seg(0)),
                    ],
                    workgroups: grid(x.h.div_ceil(RQ) * quads, c.len()),
                })
                .collect(),
        )
    } else {
        None
    }
}

/// Depthwise 3x3 over `x` (2m channels) fused with the GELU gate: m output channels.
pub fn dw_gelu_gate(ctx: &NodeCtx, bias: bool) -> Vec<Dispatch> {
    let x = ctx.ins[0];
    let m = x.c / 2;
    let ops = [
        Operand::same(ctx.out_segs),
        Operand::same(&ctx.in_segs[0]),
        Operand::shifted(&ctx.in_segs[0], m),
    ];
    chunks(m, &ops)
        .iter()
        .map(|c| Dispatch {
            shader: &SHADER,
            entry: "dw3x3_gelu_gate",
            variant: "",
            constants: vec![],
            params: params(x, c.len(), c.len(), bias, m, c, None, c.off(2)),
            bindings: vec![
                Res::Input(0, c.seg(1)),
                Res::Input(0, c.seg(2)),
                Res::Weight("weight"),
                bias_res(bias),
                Res::Output(c.seg(0)),
            ],
            workgroups: grid(x.h.div_ceil(RQ) * x.w.div_ceil(4), c.len()),
        })
        .collect()
}
