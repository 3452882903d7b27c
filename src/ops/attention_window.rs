//! Launcher for shaders/attention_window.wgsl (any window size, reflect padding).

use super::{groups_for, shader, u, Dispatch, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("attention_window", [Uniform, Read, Read, Write]);

/// Output channels per thread (the shader's `CH`).
const CH: usize = 16;

pub fn encode(qkv: Shape, heads: usize, window: usize) -> Dispatch {
    let c = qkv.c / 3;
    let d = c / heads;
    let chunks = d.div_ceil(CH);
    let threads = qkv.plane() * heads * chunks;
    Dispatch {
        shader: &SHADER,
        entry: "window_attention",
        params: vec![
            u(c),
            u(qkv.h),
            u(qkv.w),
            u(heads),
            u(d),
            u(window),
            u(chunks),
            u(threads),
        ],
        bindings: vec![Res::Input(0), Res::Weight("alpha"), Res::Output],
        workgroups: groups_for(threads, 64),
    }
}
