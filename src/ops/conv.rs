//! Launcher for shaders/conv.wgsl (dense, strided, grouped and depthwise convolution);
//! 1x1 stride-1 ungrouped convolutions go to the matrix product, 3x3 stride-1 padding-1
//! dense and depthwise ones over rows of whole quads to shaders/conv3x3.wgsl.

use super::{conv3x3, matmul, pitch, shader, u, Dispatch, Grid, NodeCtx, Res, ShaderDef};
use crate::model::Op;

pub static SHADER: ShaderDef = shader!("conv", [Uniform, Read, Read, Read, Write]);

pub fn encode(ctx: &NodeCtx) -> crate::Result<Vec<Dispatch>> {
    let Op::Conv2d {
        kernel: k,
        stride,
        padding,
        groups,
        bias,
    } = *ctx.op
    else {
        unreachable!("conv launcher called for {:?}", ctx.op)
    };
    let (x, out) = (ctx.ins[0], ctx.out);
    if k == 1 && stride == 1 && padding == 0 && groups == 1 {
        return Ok(matmul::encode(ctx, bias, false, matmul::InputNorm::None));
    }
    if let Some(d) = conv3x3::encode(ctx, k, stride, padding, groups, bias) {
        return Ok(d);
    }
    // The general kernels (strided and other convolutions: the Prompt Net's) take each
    // value in one binding.
    ctx.require_whole()?;
    let cinpg = x.c / groups;
    let coutpg = out.c / groups;
    let blocked = groups == 1 || coutpg % 4 == 0;
    // Threads along a row: 8 output pixels each, 64 threads per workgroup.
    let strips = out.w.div_ceil(8).div_ceil(64);
    let params = vec![
        u(x.c),
        u(x.h),
        u(x.w),
        u(out.c),
        u(out.h),
        u(out.w),
        u(k),
        u(stride),
        u(padding),
        u(cinpg),
        u(coutpg),
        u32::from(bias),
        u(pitch(x)),
        u(pitch(out)),
    ];
    let z = if blocked { out.c.div_ceil(4) } else { out.c };
    Ok(vec![Dispatch {
        shader: &SHADER,
        entry: if blocked { "conv_blocked" } else { "conv_rows" },
        variant: "",
        constants: vec![],
        params,
        bindings: vec![
            Res::Input(0, 0),
            Res::Weight("weight"),
            if bias {
                Res::Weight("bias")
            } else {
                Res::Dummy
            },
            Res::Output(0),
        ],
        workgroups: Grid::Dims([u(strips), u(out.h), u(z)]),
    }])
}
