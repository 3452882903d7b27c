//! Launcher for shaders/attention_window.wgsl (any window size, reflect padding).

use super::{pitch, shader, u, Dispatch, Grid, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("attention_window", [Uniform, Read, Read, Write]);

/// Output channels per thread (the shader's `CH`).
const CH: usize = 16;

pub fn encode(qkv: Shape, heads: usize, window: usize) -> Dispatch {
    let c = qkv.c / 3;
    let d = c / heads;
    let chunks = d.div_ceil(CH);
    Dispatch {
        shader: &SHADER,
        entry: "window_attention",
        constants: vec![],
        params: vec![
            u(c),
            u(qkv.h),
            u(qkv.w),
            u(heads),
            u(d),
            u(window),
            u(chunks),
            u(pitch(qkv)),
        ],
        bindings: vec![Res::Input(0), Res::Weight("alpha"), Res::Output],
        workgroups: Grid::Dims([u(qkv.w.div_ceil(64)), u(qkv.h), u(heads * chunks)]),
    }
}
