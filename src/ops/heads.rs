//! How the attention launchers bind one head when a value is split inside its heads (see
//! segments.rs): for each of the head's output, q, k and v, the segments holding it, its
//! offset and planes per binding, and the four binding slots of the split variants.

use super::segments::{head_binding, HeadBinding};
use super::{NodeCtx, Res, MAX_HEAD_PIECES};

/// How head `h`'s output, q, k and v are bound (qkv holds q, k, v of `c` channels each).
pub fn bind_head(ctx: &NodeCtx, c: usize, d: usize, h: usize) -> crate::Result<[HeadBinding; 4]> {
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
pub fn pieces(b: &HeadBinding, res: impl Fn(usize) -> Res) -> Vec<Res> {
    (0..MAX_HEAD_PIECES)
        .map(|i| b.segments.get(i).map_or(Res::Dummy, |&s| res(s)))
        .collect()
}
