//! How the attention launchers bind q, k, v (thirds of the node's qkv input) and the
//! output: runs of whole heads that lie in one segment of each (segments.rs; one run,
//! usually), or, when a value is split inside its heads, one head per run with each operand
//! bound as up to four pieces (the kernels' split variants).

use super::segments::{chunks, head_binding, splits_heads, HeadBinding, Operand};
use super::{NodeCtx, Res, MAX_HEAD_PIECES};

/// The heads one dispatch (or set of dispatches) covers, and how they are bound.
pub struct HeadRun {
    pub head0: usize,
    pub n_heads: usize,
    /// Channel offset of the run's first head in the bindings of the output, q, k and v.
    pub offsets: [usize; 4],
    /// Planes per binding of the output, q, k and v (the head width when not split).
    pub pieces: [usize; 4],
    /// q, k and v, then `between`, then the output: one binding each, or four each when
    /// the heads are split.
    pub bindings: Vec<Res>,
}

/// The runs of an attention node with `heads` heads, and whether they need the split
/// variant. `between` are the kernel's bindings that sit between v and the output.
pub fn runs(ctx: &NodeCtx, heads: usize, between: &[Res]) -> crate::Result<(bool, Vec<HeadRun>)> {
    let c = ctx.ins[0].c / 3;
    let d = c / heads;
    let segs = &ctx.in_segs[0];
    if splits_heads(segs, d) || splits_heads(ctx.out_segs, d) {
        let runs = (0..heads)
            .map(|h| {
                let [o, q, k, v] = bind_head(ctx, c, d, h)?;
                let mut bindings = Vec::with_capacity(4 * MAX_HEAD_PIECES + between.len());
                for op in [&q, &k, &v] {
                    bindings.extend(pieces(op, |s| Res::Input(0, s)));
                }
                bindings.extend_from_slice(between);
                bindings.extend(pieces(&o, Res::Output));
                Ok(HeadRun {
                    head0: h,
                    n_heads: 1,
                    offsets: [o.offset, q.offset, k.offset, v.offset],
                    pieces: [o.piece, q.piece, k.piece, v.piece],
                    bindings,
                })
            })
            .collect::<crate::Result<_>>()?;
        return Ok((true, runs));
    }
    let ops = [
        Operand::same(ctx.out_segs),
        Operand::same(segs),
        Operand::shifted(segs, c),
        Operand::shifted(segs, 2 * c),
    ];
    let runs = chunks(c, &ops)
        .iter()
        .map(|k| {
            let mut bindings = vec![
                Res::Input(0, k.seg(1)),
                Res::Input(0, k.seg(2)),
                Res::Input(0, k.seg(3)),
            ];
            bindings.extend_from_slice(between);
            bindings.push(Res::Output(k.seg(0)));
            HeadRun {
                head0: k.c0 / d,
                n_heads: k.len() / d,
                offsets: [k.off(0), k.off(1), k.off(2), k.off(3)],
                pieces: [d; 4],
                bindings,
            }
        })
        .collect();
    Ok((false, runs))
}

/// How head `h`'s output, q, k and v are bound (qkv holds q, k, v of `c` channels each).
fn bind_head(ctx: &NodeCtx, c: usize, d: usize, h: usize) -> crate::Result<[HeadBinding; 4]> {
    let segs = &ctx.in_segs[0];
    let found = [
        head_binding(ctx.out_segs, h * d, d),
        head_binding(segs, h * d, d),
        head_binding(segs, c + h * d, d),
        head_binding(segs, 2 * c + h * d, d),
    ];
    if found.iter().any(Option::is_none) {
        return Err(crate::Error::Node {
            node: ctx.node.name.clone(),
            msg: format!(
                "head {h} ({d} channels) is split over buffers that do not tile it (use tiles)"
            ),
        });
    }
    Ok(found.map(Option::unwrap))
}

/// The four bindings of one operand's head: its pieces, then unused slots.
fn pieces(b: &HeadBinding, res: impl Fn(usize) -> Res) -> Vec<Res> {
    (0..MAX_HEAD_PIECES)
        .map(|i| b.segments.get(i).map_or(Res::Dummy, |&s| res(s)))
        .collect()
}
