//! Launcher for shaders/attention_window.wgsl (any window size, reflect padding): one
//! dispatch per run of heads whose q, k, v and output lie in one segment each (segments.rs;
//! one dispatch, usually).

use super::segments::{chunks, Operand};
use super::{pitch, shader, u, Dispatch, Grid, NodeCtx, Res, ShaderDef};

pub static SHADER: ShaderDef =
    shader!("attention_window", [Uniform, Read, Read, Read, Read, Write]);

/// The shader variant for heads of `d` channels: (CH, its WGSL prelude: CH and QMAX).
/// Measured on lavapipe at 481x321: d = 32 runs 3 times faster with one 32-channel chunk
/// than with two of 16, d = 48 1.6 times faster with two of 24 and q in registers.
fn variant(d: usize) -> (usize, &'static str) {
    match d {
        0..=16 => (16, "const CH: u32 = 16u;\nconst QMAX: u32 = 16u;\n"),
        17..=32 => (32, "const CH: u32 = 32u;\nconst QMAX: u32 = 32u;\n"),
        33..=48 => (24, "const CH: u32 = 24u;\nconst QMAX: u32 = 48u;\n"),
        _ => (16, "const CH: u32 = 16u;\nconst QMAX: u32 = 16u;\n"),
    }
}

/// The variant of the four-queries kernel for heads of `d` channels, when it applies (a
/// window width that is a multiple of 4, heads of at most 48 channels): (CH, its prelude).
/// Measured on lavapipe: 3.4x the one-query kernel at d = 16, 4.3x at d = 32 (one chunk of
/// 32), 2.3x at d = 48 (chunks of 24).
fn variant4(d: usize, window: usize) -> Option<(usize, &'static str)> {
    if !window.is_multiple_of(4) {
        return None;
    }
    match d {
        0..=16 => Some((16, "const CH: u32 = 16u;\nconst QMAX: u32 = 16u;\n")),
        17..=32 => Some((32, "const CH: u32 = 32u;\nconst QMAX: u32 = 32u;\n")),
        33..=48 => Some((24, "const CH: u32 = 24u;\nconst QMAX: u32 = 48u;\n")),
        _ => None,
    }
}

/// The input granule (segment boundaries fall on whole heads): `d`.
pub fn head_width(qkv_channels: usize, heads: usize) -> usize {
    qkv_channels / 3 / heads
}

pub fn encode(ctx: &NodeCtx, heads: usize, window: usize) -> Vec<Dispatch> {
    let qkv = ctx.ins[0];
    let c = qkv.c / 3;
    let d = c / heads;
    let (entry, (ch, variant), per_thread) = match variant4(d, window) {
        Some(v) => ("window_attention4", v, 4),
        None => ("window_attention", variant(d), 1),
    };
    let chunks_per_head = d.div_ceil(ch);
    let segs = &ctx.in_segs[0];
    let ops = [
        Operand::same(ctx.out_segs),
        Operand::same(segs),
        Operand::shifted(segs, c),
        Operand::shifted(segs, 2 * c),
    ];
    chunks(c, &ops)
        .iter()
        .map(|k| {
            let n_heads = k.len() / d;
            Dispatch {
                shader: &SHADER,
                entry,
                variant,
                constants: vec![],
                params: vec![
                    u(k.c0 / d),
                    u(qkv.h),
                    u(qkv.w),
                    u(k.off(1)),
                    u(d),
                    u(window),
                    u(chunks_per_head),
                    u(pitch(qkv)),
                    u(k.off(2)),
                    u(k.off(3)),
                    u(k.off(0)),
                ],
                bindings: vec![
                    Res::Input(0, k.seg(1)),
                    Res::Input(0, k.seg(2)),
                    Res::Input(0, k.seg(3)),
                    Res::Weight("alpha"),
                    Res::Output(k.seg(0)),
                ],
                workgroups: Grid::Dims([
                    u(qkv.w.div_ceil(per_thread).div_ceil(64)),
                    u(qkv.h),
                    u(n_heads * chunks_per_head),
                ]),
            }
        })
        .collect()
}
