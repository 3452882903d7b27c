//! Launcher for shaders/norm.wgsl: layer norm over channels (with bias, and Restormer's
//! bias-free form), per-channel affine.

use super::{groups_for, shader, u, Dispatch, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("norm", [Uniform, Read, Read, Read, Write]);

pub fn layer_norm(x: Shape, eps: f32) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry: "layer_norm",
        params: vec![u(x.c), u(x.plane()), u(x.numel()), eps.to_bits()],
        bindings: vec![
            Res::Input(0),
            Res::Weight("weight"),
            Res::Weight("bias"),
            Res::Output,
        ],
        workgroups: groups_for(x.plane(), 256),
    }
}

pub fn bias_free_layer_norm(x: Shape, eps: f32) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry: "bias_free_layer_norm",
        params: vec![u(x.c), u(x.plane()), u(x.numel()), eps.to_bits()],
        bindings: vec![
            Res::Input(0),
            Res::Weight("weight"),
            Res::Dummy,
            Res::Output,
        ],
        workgroups: groups_for(x.plane(), 256),
    }
}

pub fn channel_affine(x: Shape) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry: "channel_affine",
        params: vec![u(x.c), u(x.plane()), u(x.numel()), 0],
        bindings: vec![
            Res::Input(0),
            Res::Weight("scale"),
            Res::Weight("shift"),
            Res::Output,
        ],
        workgroups: groups_for(x.numel(), 256),
    }
}
