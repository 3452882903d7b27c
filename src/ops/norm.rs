//! Launcher for shaders/norm.wgsl: layer norm over channels (with bias, and Restormer's
//! bias-free form), per-channel affine.

use super::{groups_for, pitch, shader, u, Dispatch, Grid, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("norm", [Uniform, Read, Read, Read, Write]);

/// Layer norm (`bias_free`: x / sqrt(var + eps) * weight, no bias).
pub fn layer_norm(x: Shape, eps: f32, bias_free: bool) -> Dispatch {
    let n4 = pitch(x) / 4;
    Dispatch {
        shader: &SHADER,
        entry: if bias_free {
            "bias_free_layer_norm"
        } else {
            "layer_norm"
        },
        variant: "",
        constants: vec![],
        params: vec![u(x.c), u(n4), u(x.c * n4), eps.to_bits()],
        bindings: vec![
            Res::Input(0, 0),
            Res::Weight("weight"),
            if bias_free {
                Res::Dummy
            } else {
                Res::Weight("bias")
            },
            Res::Output(0),
        ],
        workgroups: Grid::Linear(u(n4.div_ceil(64))),
    }
}

pub fn channel_affine(x: Shape) -> Dispatch {
    let n4 = pitch(x) / 4;
    Dispatch {
        shader: &SHADER,
        entry: "channel_affine",
        variant: "",
        constants: vec![],
        params: vec![u(x.c), u(n4), u(x.c * n4), 0],
        bindings: vec![
            Res::Input(0, 0),
            Res::Weight("scale"),
            Res::Weight("shift"),
            Res::Output(0),
        ],
        workgroups: groups_for(x.c * n4, 256),
    }
}
