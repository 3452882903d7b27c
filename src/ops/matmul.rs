//! Launcher for shaders/matmul.wgsl: 1x1 convolution and linear layers.

use super::{shader, u, Dispatch, Grid, Res, ShaderDef};

pub static SHADER: ShaderDef = shader!("matmul", [Uniform, Read, Read, Read, Write]);

/// out[m, n] = weight[m, k] * x[k, n] (+ bias[m]); weight in slot `weight`, bias in `bias`.
pub fn encode(m: usize, k: usize, n: usize, bias: bool) -> Dispatch {
    let tiles_n = n.div_ceil(4);
    let groups_n = tiles_n.div_ceil(64);
    // Column groups beyond the per-dimension limit continue along z.
    let max = super::max_groups_per_dim();
    let (x, z) = if groups_n <= max {
        (groups_n, 1)
    } else {
        (max, groups_n.div_ceil(max))
    };
    Dispatch {
        shader: &SHADER,
        entry: "matmul",
        params: vec![u(m), u(k), u(n), u32::from(bias), u(tiles_n)],
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
        workgroups: Grid::Dims([u(x), u(m.div_ceil(8)), u(z)]),
    }
}
