//! Launcher for shaders/attention_window.wgsl (any window size, reflect padding).

use super::{pitch, shader, u, Dispatch, Grid, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("attention_window", [Uniform, Read, Read, Write]);

/// The shader variant for heads of `d` channels: (CH, QMAX, its WGSL prelude). Measured on
/// lavapipe at 481x321: d = 32 runs 3 times faster with one 32-channel chunk than with two
/// of 16, d = 48 1.6 times faster with two of 24 and q in registers.
fn variant(d: usize) -> (usize, &'static str) {
    match d {
        0..=16 => (16, "const CH: u32 = 16u;\nconst QMAX: u32 = 16u;\n"),
        17..=32 => (32, "const CH: u32 = 32u;\nconst QMAX: u32 = 32u;\n"),
        33..=48 => (24, "const CH: u32 = 24u;\nconst QMAX: u32 = 48u;\n"),
        _ => (16, "const CH: u32 = 16u;\nconst QMAX: u32 = 16u;\n"),
    }
}

pub fn encode(qkv: Shape, heads: usize, window: usize) -> Dispatch {
    let c = qkv.c / 3;
    let d = c / heads;
    let (ch, variant) = variant(d);
    let chunks = d.div_ceil(ch);
    Dispatch {
        shader: &SHADER,
        entry: "window_attention",
        variant,
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
