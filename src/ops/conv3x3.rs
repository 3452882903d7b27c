//! Launcher for shaders/conv3x3.wgsl: 3x3 stride-1 padding-1 convolutions (dense and
//! depthwise, and depthwise fused with the GELU gate), any width.

use super::{pitch, shader, u, Dispatch, Grid, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("conv3x3", [Uniform, Read, Read, Read, Write]);

/// Output rows per thread of `dw3x3` (RQ); quads (QN) and output channels (CB) per
/// thread of `conv3x3`.
const RQ: usize = 4;
const QN: usize = 4;
const CB: usize = 4;

fn params(x: Shape, cout: usize, bias: bool, half: usize) -> Vec<u32> {
    vec![
        u(x.c),
        u(x.h),
        u(x.w),
        u(cout),
        u32::from(bias),
        u(pitch(x)),
        u(half),
    ]
}

fn bindings(bias: bool) -> Vec<Res> {
    vec![
        Res::Input(0),
        Res::Weight("weight"),
        if bias {
            Res::Weight("bias")
        } else {
            Res::Dummy
        },
        Res::Output,
    ]
}

/// Workgroups of 64 threads for `threads` threads per channel block, over x (continued on
/// y past the per-dimension limit), and `blocks` channel blocks on z.
fn grid(threads: usize, blocks: usize) -> [u32; 3] {
    let groups = threads.div_ceil(64);
    let max = super::max_groups_per_dim();
    let (x, y) = if groups <= max {
        (groups, 1)
    } else {
        (max, groups.div_ceil(max))
    };
    [u(x), u(y), u(blocks)]
}

/// Whether a convolution can take this file's kernels: 3x3, stride 1, padding 1 (dense or
/// depthwise, checked by [`encode`]).
pub fn applies(k: usize, stride: usize, padding: usize) -> bool {
    k == 3 && stride == 1 && padding == 1
}

/// The dispatch for a dense or depthwise 3x3 convolution, or `None` when it needs the
/// general kernels.
pub fn encode(
    x: Shape,
    out: Shape,
    k: usize,
    stride: usize,
    padding: usize,
    groups: usize,
    bias: bool,
) -> Option<Dispatch> {
    if !applies(k, stride, padding) {
        return None;
    }
    let quads = x.w.div_ceil(4);
    let (entry, grid) = if groups == 1 {
        (
            "conv3x3",
            [u(quads.div_ceil(QN * 64)), u(x.h), u(out.c.div_ceil(CB))],
        )
    } else if groups == x.c && out.c == x.c {
        (
            "dw3x3",
            [u(quads.div_ceil(64)), u(x.h.div_ceil(RQ)), u(x.c)],
        )
    } else {
        return None;
    };
    Some(Dispatch {
        shader: &SHADER,
        entry,
        variant: "",
        constants: vec![],
        params: params(x, out.c, bias, 0),
        bindings: bindings(bias),
        workgroups: Grid::Dims(grid),
    })
}

/// Depthwise 3x3 over `x` (2m channels) fused with the GELU gate: m output channels.
pub fn dw_gelu_gate(x: Shape, bias: bool) -> Dispatch {
    let m = x.c / 2;
    Dispatch {
        shader: &SHADER,
        entry: "dw3x3_gelu_gate",
        variant: "",
        constants: vec![],
        params: params(x, m, bias, m),
        bindings: bindings(bias),
        workgroups: Grid::Dims(grid(x.h.div_ceil(RQ) * x.w.div_ceil(4), m)),
    }
}
