//! Launcher for shaders/attention_window.wgsl (any window size, reflect padding): one
//! dispatch per run of heads whose q, k, v and output lie in one segment each (segments.rs;
//! one dispatch, usually), or, for a value whose single head is over the binding limit, one
//! dispatch per head with the head's pieces bound side by side (the split variant).

use super::heads::{bind_head, pieces};
use super::segments::{chunks, splits_heads, Operand};
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
    let segs = &ctx.in_segs[0];
    let params = |head0: usize, offs: [usize; 4], pieces: [usize; 4]| {
        vec![
            u(head0),
            u(qkv.h),
            u(qkv.w),
            u(offs[1]),
            u(d),
            u(window),
            u(chunks_per_head),
            u(pitch(qkv)),
            u(offs[2]),
            u(offs[3]),
            u(offs[0]),
            u(pieces[1]),
            u(pieces[2]),
            u(pieces[3]),
            u(pieces[0]),
        ]
    };
    let workgroups = |n_heads: usize| {
        Grid::Dims([
            u(qkv.w.div_ceil(per_thread).div_ceil(64)),
            u(qkv.h),
            u(n_heads * chunks_per_head),
        ])
    };
    if splits_heads(segs, d) || splits_heads(ctx.out_segs, d) {
        return (0..heads)
            .map(|h| {
                let [o, q, k, v] = bind_head(ctx, c, d, h)?;
                let mut bindings = Vec::with_capacity(17);
                for op in [&q, &k, &v] {
                    bindings.extend(pieces(op, |s| Res::Input(0, s)));
                }
                bindings.push(Res::Weight("alpha"));
                bindings.extend(pieces(&o, Res::Output));
                Ok(Dispatch {
                    shader: &SPLIT_SHADER,
                    entry,
                    variant,
                    constants: vec![],
                    params: params(
                        h,
                        [o.offset, q.offset, k.offset, v.offset],
                        [o.piece, q.piece, k.piece, v.piece],
                    ),
                    bindings,
                    workgroups: workgroups(1),
                })
            })
            .collect();
    }
    let ops = [
        Operand::same(ctx.out_segs),
        Operand::same(segs),
        Operand::shifted(segs, c),
        Operand::shifted(segs, 2 * c),
    ];
    Ok(chunks(c, &ops)
        .iter()
        .map(|k| Dispatch {
            shader: &SHADER,
            entry,
            variant,
            constants: vec![],
            params: params(k.c0 / d, [k.off(0), k.off(1), k.off(2), k.off(3)], [d; 4]),
            bindings: vec![
                Res::Input(0, k.seg(1)),
                Res::Input(0, k.seg(2)),
                Res::Input(0, k.seg(3)),
                Res::Weight("alpha"),
                Res::Output(k.seg(0)),
            ],
            workgroups: workgroups(k.len() / d),
        })
        .collect())
}
