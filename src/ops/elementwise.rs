//! Launcher for shaders/elementwise.wgsl: one dispatch per chunk of channels that lies in
//! one segment of every operand (one chunk, usually).

use super::segments::{chunks, Chunk, Operand};
use super::{groups_for, pitch, shader, u, Dispatch, NodeCtx, Res, ShaderDef};

pub static SHADER: ShaderDef = shader!("elementwise", [Uniform, Read, Read, Write]);

fn dispatch(
    ctx: &NodeCtx,
    entry: &'static str,
    c: &Chunk,
    a: Res,
    b: Res,
    w: [f32; 2],
) -> Dispatch {
    let q = pitch(ctx.out) / 4;
    let n4 = c.len() * q;
    let off = |k: usize| u(c.off(k) * q);
    let b_off = if b == Res::Dummy { 0 } else { off(2) };
    Dispatch {
        shader: &SHADER,
        entry,
        variant: "",
        constants: vec![],
        params: vec![u(n4), off(1), b_off, off(0), w[0].to_bits(), w[1].to_bits()],
        bindings: vec![a, b, Res::Output(c.seg(0))],
        workgroups: groups_for(n4, 256),
    }
}

/// `add` or `weighted_add` (out = wa * a + wb * b) of inputs 0 and 1.
pub fn binary(ctx: &NodeCtx, entry: &'static str, wa: f32, wb: f32) -> Vec<Dispatch> {
    let ops = [
        Operand::same(ctx.out_segs),
        Operand::same(&ctx.in_segs[0]),
        Operand::same(&ctx.in_segs[1]),
    ];
    chunks(ctx.out.c, &ops)
        .iter()
        .map(|c| {
            dispatch(
                ctx,
                entry,
                c,
                Res::Input(0, c.seg(1)),
                Res::Input(1, c.seg(2)),
                [wa, wb],
            )
        })
        .collect()
}

/// `relu` or `sigmoid` of input 0.
pub fn unary(ctx: &NodeCtx, entry: &'static str) -> Vec<Dispatch> {
    let ops = [Operand::same(ctx.out_segs), Operand::same(&ctx.in_segs[0])];
    chunks(ctx.out.c, &ops)
        .iter()
        .map(|c| dispatch(ctx, entry, c, Res::Input(0, c.seg(1)), Res::Dummy, [0.0; 2]))
        .collect()
}

/// gelu(x[:m]) * x[m:] for an output of m channels.
pub fn gelu_gate(ctx: &NodeCtx) -> Vec<Dispatch> {
    let m = ctx.out.c;
    let ops = [
        Operand::same(ctx.out_segs),
        Operand::same(&ctx.in_segs[0]),
        Operand::shifted(&ctx.in_segs[0], m),
    ];
    chunks(m, &ops)
        .iter()
        .map(|c| {
            dispatch(
                ctx,
                "gelu_gate",
                c,
                Res::Input(0, c.seg(1)),
                Res::Input(0, c.seg(2)),
                [0.0; 2],
            )
        })
        .collect()
}
