//! Launcher for shaders/pool.wgsl: max pool, global average pool.

use super::segments::{chunks, Operand};
use super::{groups_for, pitch, shader, u, Dispatch, Grid, NodeCtx, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("pool", [Uniform, Read, Write]);

pub fn max_pool(x: Shape, out: Shape, k: usize, stride: usize, pad: usize) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry: "max_pool",
        variant: "",
        constants: vec![],
        params: vec![
            u(out.numel()),
            u(x.c),
            u(x.h),
            u(x.w),
            u(out.h),
            u(out.w),
            u(k),
            u(stride),
            u(pad),
            u(pitch(x)),
            u(pitch(out)),
            0,
            0,
        ],
        bindings: vec![Res::Input(0, 0), Res::Output(0)],
        workgroups: groups_for(out.numel(), 256),
    }
}

/// One workgroup per channel, per chunk of the input's channels in one of its segments
/// (the output, a vector, is one segment).
pub fn global_avg_pool(ctx: &NodeCtx) -> Vec<Dispatch> {
    let (x, out) = (ctx.ins[0], ctx.out);
    chunks(x.c, &[Operand::same(&ctx.in_segs[0])])
        .iter()
        .map(|c| Dispatch {
            shader: &SHADER,
            entry: "global_avg_pool",
            variant: "",
            constants: vec![],
            params: vec![
                u(c.len()),
                u(c.len()),
                u(x.h),
                u(x.w),
                1,
                1,
                0,
                0,
                0,
                u(pitch(x)),
                u(pitch(out)),
                u(c.off(0)),
                u(c.c0),
            ],
            bindings: vec![Res::Input(0, c.seg(0)), Res::Output(0)],
            workgroups: Grid::Linear(u(c.len())),
        })
        .collect()
}
