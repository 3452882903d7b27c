//! Launcher for shaders/attention_channel.wgsl: L2 norms, Gram matrix with temperature,
//! row softmax, apply. Scratch: the 2c norms and the heads x d x d attention matrix.

use super::{groups_for, pitch, shader, u, Dispatch, Grid, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!(
    "attention_channel",
    [Uniform, Read, Read, Write, Write, Write]
);

pub fn scratch_bytes(heads: usize, qkv: Shape, _out: Shape) -> Vec<u64> {
    let c = qkv.c / 3;
    let d = c / heads;
    vec![(2 * c * 4) as u64, (heads * d * d * 4) as u64]
}

pub fn encode(qkv: Shape, heads: usize) -> Vec<Dispatch> {
    let c = qkv.c / 3;
    let d = c / heads;
    let n = qkv.plane();
    let params = vec![u(c), u(n), u(heads), u(d), u(pitch(qkv))];
    let bindings = vec![
        Res::Input(0),
        Res::Weight("temperature"),
        Res::Scratch(0),
        Res::Scratch(1),
        Res::Output,
    ];
    let mk = |entry: &'static str, workgroups: Grid| Dispatch {
        shader: &SHADER,
        entry,
        variant: "",
        constants: vec![],
        params: params.clone(),
        bindings: bindings.clone(),
        workgroups,
    };
    vec![
        mk("l2norm", Grid::Linear(u(2 * c))),
        mk("gram", Grid::Linear(u(heads * d * d))),
        mk("softmax_rows", groups_for(heads * d, 64)),
        mk("apply", groups_for(n.div_ceil(4) * c, 64)),
    ]
}
