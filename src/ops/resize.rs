//! Launcher for shaders/resize.wgsl (bilinear, align_corners false), per chunk of
//! channels in one segment of each value (segments.rs).

use super::segments::{chunks, Operand};
use super::{groups_for, pitch, shader, u, Dispatch, NodeCtx, Res, ShaderDef};

pub static SHADER: ShaderDef = shader!("resize", [Uniform, Read, Write]);

pub fn bilinear(ctx: &NodeCtx) -> Vec<Dispatch> {
    let (x, out) = (ctx.ins[0], ctx.out);
    // PyTorch's scale for an explicit output size: input / output, in f32.
    let sh = x.h as f32 / out.h as f32;
    let sw = x.w as f32 / out.w as f32;
    let ops = [Operand::same(ctx.out_segs), Operand::same(&ctx.in_segs[0])];
    chunks(out.c, &ops)
        .iter()
        .map(|c| {
            let n = c.len() * out.plane();
            Dispatch {
                shader: &SHADER,
                entry: "bilinear",
                variant: "",
                constants: vec![],
                params: vec![
                    u(n),
                    u(c.len()),
                    u(x.h),
                    u(x.w),
                    u(out.h),
                    u(out.w),
                    sh.to_bits(),
                    sw.to_bits(),
                    u(pitch(x)),
                    u(pitch(out)),
                    u(c.off(1)),
                    u(c.off(0)),
                ],
                bindings: vec![Res::Input(0, c.seg(1)), Res::Output(c.seg(0))],
                workgroups: groups_for(n, 256),
            }
        })
        .collect()
}
