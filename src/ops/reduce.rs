//! Launcher for shaders/reduce.wgsl: softmax over channels.

use super::{groups_for, pitch, shader, u, Dispatch, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("reduce", [Uniform, Read, Write]);

pub fn softmax_channels(x: Shape) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry: "softmax_channels",
        variant: "",
        constants: vec![],
        params: vec![u(x.c), u(x.plane()), u(pitch(x))],
        bindings: vec![Res::Input(0, 0), Res::Output(0)],
        workgroups: groups_for(x.plane(), 256),
    }
}
