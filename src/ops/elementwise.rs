//! Launcher for shaders/elementwise.wgsl.

use super::{groups_for, shader, u, Dispatch, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("elementwise", [Uniform, Read, Read, Write]);

/// `add` or `weighted_add` (out = wa * a + wb * b).
pub fn binary(entry: &'static str, out: Shape, wa: f32, wb: f32) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry,
        params: vec![u(out.numel()), 0, wa.to_bits(), wb.to_bits()],
        bindings: vec![Res::Input(0), Res::Input(1), Res::Output],
        workgroups: groups_for(out.numel(), 256),
    }
}

/// `relu` or `sigmoid`.
pub fn unary(entry: &'static str, out: Shape) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry,
        params: vec![u(out.numel()), 0, 0, 0],
        bindings: vec![Res::Input(0), Res::Dummy, Res::Output],
        workgroups: groups_for(out.numel(), 256),
    }
}

/// gelu(x[:m]) * x[m:] for an output of m channels.
pub fn gelu_gate(out: Shape) -> Dispatch {
    unary("gelu_gate", out)
}
