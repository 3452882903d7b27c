//! Launcher for shaders/layout.wgsl: pixel (un)shuffle, concat, reflect pad, crop,
//! mix_components; per chunk of channels in one segment of each value (segments.rs).

use super::segments::{chunks, Chunk, Operand};
use super::{groups_for, pitch, shader, u, Dispatch, NodeCtx, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("layout", [Uniform, Read, Read, Write]);

/// The dispatch of `entry` for a chunk with `ic` input and `oc` output channels, the input
/// in `input`'s segment `iseg` at offset `ioff`, the output at `oseg`/`ooff`.
#[allow(clippy::too_many_arguments)]
fn dispatch(
    entry: &'static str,
    threads: usize,
    x: Shape,
    out: Shape,
    (ic, oc): (usize, usize),
    arg: usize,
    (input, iseg, ioff): (usize, usize, usize),
    (oseg, ooff): (usize, usize),
) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry,
        variant: "",
        constants: vec![],
        params: vec![
            u(threads),
            u(ic),
            u(x.h),
            u(x.w),
            u(oc),
            u(out.h),
            u(out.w),
            u(arg),
            u(pitch(x)),
            u(pitch(out)),
            u(ioff),
            u(ooff),
        ],
        bindings: vec![Res::Input(input, iseg), Res::Dummy, Res::Output(oseg)],
        workgroups: groups_for(threads, 256),
    }
}

/// Per chunk of output channels that read input channels one to one.
fn per_channel(ctx: &NodeCtx, entry: &'static str) -> Vec<Dispatch> {
    let (x, out) = (ctx.ins[0], ctx.out);
    let ops = [Operand::same(ctx.out_segs), Operand::same(&ctx.in_segs[0])];
    chunks(out.c, &ops)
        .iter()
        .map(|c: &Chunk| {
            let shape = Shape::new(c.len(), out.h, out.w);
            dispatch(
                entry,
                shape.numel(),
                x,
                out,
                (c.len(), c.len()),
                0,
                (0, c.seg(1), c.off(1)),
                (c.seg(0), c.off(0)),
            )
        })
        .collect()
}

/// The channel granule pixel (un)shuffle needs of its input (output) for a factor: one
/// output (input) channel's group in one segment.
pub fn shuffle_granule(factor: usize) -> usize {
    factor * factor
}

pub fn pixel_shuffle(ctx: &NodeCtx, factor: usize) -> Vec<Dispatch> {
    let (x, out) = (ctx.ins[0], ctx.out);
    let r2 = factor * factor;
    let ops = [
        Operand::same(ctx.out_segs),
        Operand::scaled(&ctx.in_segs[0], r2),
    ];
    chunks(out.c, &ops)
        .iter()
        .map(|c| {
            dispatch(
                "pixel_shuffle",
                c.len() * out.plane(),
                x,
                out,
                (c.len() * r2, c.len()),
                factor,
                (0, c.seg(1), c.off(1)),
                (c.seg(0), c.off(0)),
            )
        })
        .collect()
}

pub fn pixel_unshuffle(ctx: &NodeCtx, factor: usize) -> Vec<Dispatch> {
    let (x, out) = (ctx.ins[0], ctx.out);
    let r2 = factor * factor;
    // Chunks of input channels; each feeds r2 consecutive output channels.
    let ops = [
        Operand::same(&ctx.in_segs[0]),
        Operand::scaled(ctx.out_segs, r2),
    ];
    chunks(x.c, &ops)
        .iter()
        .map(|c| {
            dispatch(
                "pixel_unshuffle",
                c.len() * r2 * out.plane(),
                x,
                out,
                (c.len(), c.len() * r2),
                factor,
                (0, c.seg(0), c.off(0)),
                (c.seg(1), c.off(1)),
            )
        })
        .collect()
}

pub fn reflect_pad(ctx: &NodeCtx) -> Vec<Dispatch> {
    per_channel(ctx, "reflect_pad")
}

pub fn crop(ctx: &NodeCtx) -> Vec<Dispatch> {
    per_channel(ctx, "crop")
}

/// One copy per chunk of each input into its channel slice of the output (the inputs have
/// the output's plane size, hence its pitch).
pub fn concat(ctx: &NodeCtx) -> Vec<Dispatch> {
    let out = ctx.out;
    let mut offset = 0;
    let mut v = Vec::new();
    for (i, &x) in ctx.ins.iter().enumerate() {
        let ops = [
            Operand::same(&ctx.in_segs[i]),
            Operand::shifted(ctx.out_segs, offset),
        ];
        for c in chunks(x.c, &ops) {
            v.push(dispatch(
                "copy_channels",
                c.len() * pitch(x) / 4,
                x,
                out,
                (c.len(), c.len()),
                0,
                (i, c.seg(0), c.off(0)),
                (c.seg(1), c.off(1)),
            ));
        }
        offset += x.c;
    }
    v
}

/// out = sum_j a[j] * components[j]; `a` is L x 1 x 1 (one segment: a small value).
pub fn mix_components(a: Shape, out: Shape) -> Dispatch {
    let mut d = dispatch(
        "mix_components",
        out.numel(),
        a,
        out,
        (a.c, out.c),
        a.c,
        (0, 0, 0),
        (0, 0),
    );
    d.bindings[1] = Res::Weight("components");
    d
}
