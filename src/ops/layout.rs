//! Launcher for shaders/layout.wgsl: pixel (un)shuffle, concat, reflect pad, crop,
//! mix_components.

use super::{groups_for, pitch, shader, u, Dispatch, Res, ShaderDef};
use crate::tensor::Shape;

pub static SHADER: ShaderDef = shader!("layout", [Uniform, Read, Read, Write]);

fn dispatch(entry: &'static str, threads: usize, x: Shape, out: Shape, arg: usize) -> Dispatch {
    Dispatch {
        shader: &SHADER,
        entry,
        variant: "",
        constants: vec![],
        params: vec![
            u(threads),
            u(x.c),
            u(x.h),
            u(x.w),
            u(out.c),
            u(out.h),
            u(out.w),
            u(arg),
            u(pitch(x)),
            u(pitch(out)),
        ],
        bindings: vec![Res::Input(0), Res::Dummy, Res::Output],
        workgroups: groups_for(threads, 256),
    }
}

pub fn pixel_shuffle(x: Shape, out: Shape, factor: usize) -> Dispatch {
    dispatch("pixel_shuffle", out.numel(), x, out, factor)
}

pub fn pixel_unshuffle(x: Shape, out: Shape, factor: usize) -> Dispatch {
    dispatch("pixel_unshuffle", out.numel(), x, out, factor)
}

pub fn reflect_pad(x: Shape, out: Shape) -> Dispatch {
    dispatch("reflect_pad", out.numel(), x, out, 0)
}

pub fn crop(x: Shape, out: Shape) -> Dispatch {
    dispatch("crop", out.numel(), x, out, 0)
}

/// One copy into a channel slice of the output per input (4 elements per thread; the
/// inputs have the output's plane size, hence its pitch).
pub fn concat(ins: &[Shape], out: Shape) -> Vec<Dispatch> {
    let mut offset = 0;
    ins.iter()
        .enumerate()
        .map(|(i, &x)| {
            let mut d = dispatch("copy_channels", x.c * pitch(x) / 4, x, out, offset);
            d.bindings[0] = Res::Input(i);
            offset += x.c;
            d
        })
        .collect()
}

/// out = sum_j a[j] * components[j]; `a` is L x 1 x 1.
pub fn mix_components(a: Shape, out: Shape) -> Dispatch {
    let mut d = dispatch("mix_components", out.numel(), a, out, a.c);
    d.bindings[1] = Res::Weight("components");
    d
}
