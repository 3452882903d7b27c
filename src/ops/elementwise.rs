//! Launcher for shaders/elementwise.wgsl (4 elements per thread, padding included).

use super::{groups_for, pitch, shader, u, Dispatch, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("elementwise", [Uniform, Read, Read, Write]);

fn quads(out: Shape) -> usize {
    out.c * pitch(out) / 4
}

/// `add` or `weighted_add` (out = wa * a + wb * b).
pub fn binary(entry: &'static str, out: Shape, wa: f32, wb: f32) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry,
        variant: "",
        constants: vec![],
        params: vec![u(quads(out)), 0, wa.to_bits(), wb.to_bits()],
        bindings: vec![Res::Input(0), Res::Input(1), Res::Output],
        workgroups: groups_for(quads(out), 256),
    }
}

/// `relu` or `sigmoid`.
pub fn unary(entry: &'static str, out: Shape) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry,
        variant: "",
        constants: vec![],
        params: vec![u(quads(out)), 0, 0, 0],
        bindings: vec![Res::Input(0), Res::Dummy, Res::Output],
        workgroups: groups_for(quads(out), 256),
    }
}

/// gelu(x[:m]) * x[m:] for an output of m channels.
pub fn gelu_gate(out: Shape) -> Dispatch {
    let mut d = unary("gelu_gate", out);
    d.params[1] = u(quads(out));
    d
}
