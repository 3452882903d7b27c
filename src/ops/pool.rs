//! Launcher for shaders/pool.wgsl: max pool, global average pool.

use super::{groups_for, pitch, shader, u, Dispatch, Grid, Res, ShaderDef};
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
        ],
        bindings: vec![Res::Input(0), Res::Output],
        workgroups: groups_for(out.numel(), 256),
    }
}

/// One workgroup per channel.
pub fn global_avg_pool(x: Shape, out: Shape) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry: "global_avg_pool",
        variant: "",
        constants: vec![],
        params: vec![
            u(x.c),
            u(x.c),
            u(x.h),
            u(x.w),
            1,
            1,
            0,
            0,
            0,
            u(pitch(x)),
            u(pitch(out)),
        ],
        bindings: vec![Res::Input(0), Res::Output],
        workgroups: Grid::Linear(u(x.c)),
    }
}
