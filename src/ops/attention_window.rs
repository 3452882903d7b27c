//! Launcher for shaders/attention_window.wgsl (any window size, reflect padding): one
//! dispatch per run of heads whose q, k, v and output lie in one segment each (segments.rs;
//! one dispatch, usually), or, for a value whose single head is over the binding limit, one
//! dispatch per head with the head's pieces bound side by side (the split variant).

use super::heads::runs;
use super::{pitch, shader, u, Dispatch, Grid, NodeCtx, Res, ShaderDef};

pub static SHADER: ShaderDef = shader!(
    "attention_window",
    ["attention_window", "attention_window_bind"],
    [Uniform, Read, Read, Read, Read, Write]
);

/// The variant whose q, k, v and output each take up to four bindings.
pub static SPLIT_SHADER: ShaderDef = shader!(
    "attention_window_split",
    ["attention_window", "attention_window_split"],
    [
        Uniform, Read, Read, Read, Read, Read, Read, Read, Read, Read, Read, Read, Read, Read,
        Write, Write, Write, Write
    ]
);

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

pub fn encode(ctx: &NodeCtx, heads: usize, window: usize) -> crate::Result<Vec<Dispatch>> {
    let qkv = ctx.ins[0];
    let c = qkv.c / 3;
    let d = c / heads;
    let (entry, (ch, variant), per_thread) = match variant4(d, window) {
        Some(v) => ("window_attention4", v, 4),
        None => ("window_attention", variant(d), 1),
    };
    let chunks_per_head = d.div_ceil(ch);
    let (split, runs) = runs(ctx, heads, &[Res::Weight("alpha")])?;
    Ok(runs
        .into_iter()
        .map(|r| Dispatch {
            shader: if split { &SPLIT_SHADER } else { &SHADER },
            entry,
            variant,
            constants: vec![],
            params: vec![
                u(r.head0),
                u(qkv.h),
                u(qkv.w),
                u(r.offsets[1]),
                u(d),
                u(window),
                u(chunks_per_head),
                u(pitch(qkv)),
                u(r.offsets[2]),
                u(r.offsets[3]),
                u(r.offsets[0]),
                u(r.pieces[1]),
                u(r.pieces[2]),
                u(r.pieces[3]),
                u(r.pieces[0]),
            ],
            bindings: r.bindings,
            workgroups: Grid::Dims([
                u(qkv.w.div_ceil(per_thread).div_ceil(64)),
                u(qkv.h),
                u(r.n_heads * chunks_per_head),
            ]),
        })
        .collect())
}
