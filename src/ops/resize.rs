//! Launcher for shaders/resize.wgsl (bilinear, align_corners false).

use super::{groups_for, pitch, shader, u, Dispatch, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("resize", [Uniform, Read, Write]);

pub fn bilinear(x: Shape, out: Shape) -> Dispatch {
    // PyTorch's scale for an explicit output size: input / output, in f32.
    let sh = x.h as f32 / out.h as f32;
    let sw = x.w as f32 / out.w as f32;
    Dispatch {
        shader: &SHADER,
        entry: "bilinear",
        variant: "",
        constants: vec![],
        params: vec![
            u(out.numel()),
            u(x.c),
            u(x.h),
            u(x.w),
            u(out.h),
            u(out.w),
            sh.to_bits(),
            sw.to_bits(),
            u(pitch(x)),
            u(pitch(out)),
        ],
        bindings: vec![Res::Input(0), Res::Output],
        workgroups: groups_for(out.numel(), 256),
    }
}
