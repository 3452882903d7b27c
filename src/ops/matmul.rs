//! Launcher for shaders/matmul.wgsl: 1x1 convolution and linear layers.

use super::{groups_for, shader, u, Dispatch, Res, ShaderDef};

pub static SHADER: ShaderDef = shader!("matmul", [Uniform, Read, Read, Read, Write]);

/// out[m, n] = weight[m, k] * x[k, n] (+ bias[m]); weight in slot `weight`, bias in `bias`.
pub fn encode(m: usize, k: usize, n: usize, bias: bool) -> Dispatch {
    let tiles_n = n.div_ceil(4);
    let threads = tiles_n * m.div_ceil(8);
    Dispatch {
        shader: &SHADER,
        entry: "matmul",
        params: vec![u(m), u(k), u(n), u32::from(bias), u(tiles_n), u(threads)],
        bindings: vec![
            Res::Input(0),
            Res::Weight("weight"),
            if bias {
                Res::Weight("bias")
            } else {
                Res::Dummy
            },
            Res::Output,
        ],
        workgroups: groups_for(threads, 64),
    }
}
