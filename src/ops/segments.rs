//! Values larger than one storage binding: a value whose planes do not all fit in one
//! binding (lavapipe and browsers allow 128 MiB; a 1-megapixel image's 32-channel feature
//! map is 128 MiB in f32) is kept as several buffers, the segments, each holding a run of
//! whole channels and each bound whole. A node is then dispatched once per chunk of channels
//! that lies inside one segment of every value it touches: the kernels take the chunk's
//! channel offsets as parameters. An image whose forward fits the device's memory thus runs
//! as one exact forward, with no tiling, overlap or seams.
//!
//! Segments keep what one dispatch reads together (a head, a pixel-shuffle group) whole,
//! except where one head alone is over the limit (4 megapixels in f32 on a 128 MiB binding):
//! then a value read and written only by attention kernels is split into halves or quarters
//! of heads ([`of_head_pieces`]), and those kernels bind a head as up to four segments
//! ([`head_binding`], ops/heads.rs).

use crate::tensor::Shape;

/// The channel runs `[c0, c1)` of a value's segments, in order, covering all its channels.
pub type Segments = Vec<(usize, usize)>;

/// Splits `channels` planes of `plane_bytes` each into segments of at most `limit` bytes,
/// with boundaries at multiples of `granule` channels (what the value's readers and writer
/// need to find a whole head or pixel-shuffle group in one segment). `None` if one granule
/// alone is over the limit.
pub fn split(channels: usize, plane_bytes: u64, granule: usize, limit: u64) -> Option<Segments> {
    let total = channels as u64 * plane_bytes;
    if total <= limit {
        return Some(vec![(0, channels)]);
    }
    let granule = granule.max(1);
    let per = (limit / plane_bytes.max(1)) as usize / granule * granule;
    if per == 0 {
        return None;
    }
    // As many segments as needed, as equal as the granule allows.
    let n = channels.div_ceil(per);
    let size = channels.div_ceil(n).div_ceil(granule) * granule;
    Some(
        (0..channels)
            .step_by(size)
            .map(|c0| (c0, (c0 + size).min(channels)))
            .collect(),
    )
}

/// The segments of a value with `shape` (see [`split`]).
pub fn of(
    shape: Shape,
    precision: super::Precision,
    granule: usize,
    limit: u64,
) -> Option<Segments> {
    let plane = super::pitch(shape) as u64 * precision.bytes();
    split(shape.c, plane, granule, limit)
}

/// The segments of a value whose granule (a head) alone is over `limit`: pieces of
/// `granule / 2` or `granule / 4` channels, the largest that fits, so that every segment is
/// exactly one piece and each head spans at most [`MAX_HEAD_PIECES`] of them (see
/// [`head_binding`]). `None` if a quarter head is still over the limit.
pub fn of_head_pieces(
    shape: Shape,
    precision: super::Precision,
    granule: usize,
    limit: u64,
) -> Option<Segments> {
    let mut parts = 2;
    while parts <= MAX_HEAD_PIECES {
        if granule.is_multiple_of(parts) {
            if let Some(s) = of(shape, precision, granule / parts, limit) {
                return Some(s);
            }
        }
        parts *= 2;
    }
    None
}

/// An operand of a chunked dispatch: its segments, and the affine map from the channel
/// index being chunked (`i`) to the operand's channel (`scale * i + shift`).
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub segments: &'a Segments,
    pub scale: usize,
    pub shift: usize,
}

impl<'a> Operand<'a> {
    /// Channel i of the operand is channel i of the chunked space.
    pub fn same(segments: &'a Segments) -> Self {
        Operand {
            segments,
            scale: 1,
            shift: 0,
        }
    }
    pub fn shifted(segments: &'a Segments, shift: usize) -> Self {
        Operand {
            segments,
            scale: 1,
            shift,
        }
    }
    pub fn scaled(segments: &'a Segments, scale: usize) -> Self {
        Operand {
            segments,
            scale,
            shift: 0,
        }
    }
}

/// A chunk `[c0, c1)` of the chunked channel space, and for each operand the segment its
/// channels lie in and the offset of the chunk's first channel inside that segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub c0: usize,
    pub c1: usize,
    pub at: Vec<(usize, usize)>,
}

impl Chunk {
    pub fn len(&self) -> usize {
        self.c1 - self.c0
    }
    pub fn is_empty(&self) -> bool {
        self.c1 == self.c0
    }
    /// Segment index of operand `k`.
    pub fn seg(&self, k: usize) -> usize {
        self.at[k].0
    }
    /// Channel offset of the chunk's first channel inside operand `k`'s segment.
    pub fn off(&self, k: usize) -> usize {
        self.at[k].1
    }
}

/// Splits channels `[0, n)` into the fewest chunks such that, for every operand, the
/// channels the chunk maps to lie in one segment. One chunk when every operand has one
/// segment (the usual case).
pub fn chunks(n: usize, operands: &[Operand]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut c0 = 0;
    while c0 < n {
        let mut c1 = n;
        let mut at = Vec::with_capacity(operands.len());
        for op in operands {
            let first = op.scale * c0 + op.shift;
            let (s, &(s0, s1)) = op
                .segments
                .iter()
                .enumerate()
                .find(|(_, (a, b))| (*a..*b).contains(&first))
                .expect("an operand channel outside its value");
            // The last i whose channels [scale*i + shift, scale*(i+1) + shift) end by s1.
            let last = (s1 - op.shift) / op.scale;
            c1 = c1.min(last.max(c0 + 1));
            at.push((s, first - s0));
        }
        out.push(Chunk { c0, c1, at });
        c0 = c1;
    }
    out
}

/// The most bindings one operand of an attention kernel spreads a head over (the split
/// variants bind 4 per operand: 17 and 20 storage bindings in all).
pub const MAX_HEAD_PIECES: usize = 4;

/// How an attention kernel binds the `d` channels of one head starting at channel `first`
/// of a value: the segments holding them, the channel of `first` inside the first one, and
/// the planes per segment (the head width when one segment holds the whole head).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadBinding {
    pub segments: Vec<usize>,
    pub offset: usize,
    pub piece: usize,
}

/// The binding of one head (see [`HeadBinding`]): one segment, or consecutive segments of
/// equal size that start with the head and tile it, at most [`MAX_HEAD_PIECES`] of them
/// (what the planner makes of a value whose head is over the binding limit). `None`
/// otherwise.
pub fn head_binding(segs: &Segments, first: usize, d: usize) -> Option<HeadBinding> {
    let s = segs.iter().position(|&(a, b)| (a..b).contains(&first))?;
    let (s0, s1) = segs[s];
    if first + d <= s1 {
        return Some(HeadBinding {
            segments: vec![s],
            offset: first - s0,
            piece: d,
        });
    }
    let piece = s1 - s0;
    let n = d / piece;
    let tiles = first == s0
        && d.is_multiple_of(piece)
        && n <= MAX_HEAD_PIECES
        && (0..n).all(|i| segs.get(s + i) == Some(&(s0 + i * piece, s0 + (i + 1) * piece)));
    tiles.then(|| HeadBinding {
        segments: (s..s + n).collect(),
        offset: 0,
        piece,
    })
}

/// Whether any segment of `segs` holds fewer than `d` channels: a value whose heads the
/// attention kernels must read from several bindings.
pub fn splits_heads(segs: &Segments, d: usize) -> bool {
    segs.iter().any(|&(a, b)| b - a < d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_limit_and_granule() {
        assert_eq!(split(10, 100, 1, 1000), Some(vec![(0, 10)]));
        // 10 planes of 100 bytes in 450-byte segments: 4 per segment, balanced to 4,4,2.
        assert_eq!(split(10, 100, 1, 450), Some(vec![(0, 4), (4, 8), (8, 10)]));
        // Granule 3: at most 3 per segment.
        assert_eq!(split(9, 100, 3, 450), Some(vec![(0, 3), (3, 6), (6, 9)]));
        assert_eq!(split(9, 100, 5, 450), None);
    }

    #[test]
    fn heads_bind_whole_or_in_equal_pieces() {
        // Heads of 8 in segments of 16: whole, at an offset.
        let whole: Segments = vec![(0, 16), (16, 32)];
        let b = head_binding(&whole, 24, 8).unwrap();
        assert_eq!((b.segments, b.offset, b.piece), (vec![1], 8, 8));
        // Heads of 8 in segments of 2: four pieces.
        let quarters: Segments = (0..8).map(|i| (2 * i, 2 * i + 2)).collect();
        let b = head_binding(&quarters, 8, 8).unwrap();
        assert_eq!((b.segments, b.offset, b.piece), (vec![4, 5, 6, 7], 0, 2));
        assert!(splits_heads(&quarters, 8) && !splits_heads(&whole, 8));
        // More than four pieces, or pieces that do not start with the head: not bindable.
        let eighths: Segments = (0..16).map(|i| (i, i + 1)).collect();
        assert_eq!(head_binding(&eighths, 0, 8), None);
        let uneven: Segments = vec![(0, 6), (6, 12), (12, 16)];
        assert_eq!(head_binding(&uneven, 0, 8), None);
    }

    #[test]
    fn chunks_follow_every_operand() {
        let out: Segments = vec![(0, 4), (4, 8)];
        let inp: Segments = vec![(0, 3), (3, 6), (6, 8)];
        let c = chunks(8, &[Operand::same(&out), Operand::same(&inp)]);
        let bounds: Vec<(usize, usize)> = c.iter().map(|c| (c.c0, c.c1)).collect();
        assert_eq!(bounds, vec![(0, 3), (3, 4), (4, 6), (6, 8)]);
        assert_eq!(c[1].at, vec![(0, 3), (1, 0)]);
        // The gate's second half: input channel i + 4 of an 8-channel input.
        let gate = chunks(4, &[Operand::shifted(&inp, 4)]);
        let b: Vec<(usize, usize, usize, usize)> = gate
            .iter()
            .map(|c| (c.c0, c.c1, c.seg(0), c.off(0)))
            .collect();
        assert_eq!(b, vec![(0, 2, 1, 1), (2, 4, 2, 0)]);
        // Pixel shuffle: output channel i reads input channels 4i..4i+3.
        let inp4: Segments = vec![(0, 8), (8, 16)];
        let s = chunks(4, &[Operand::scaled(&inp4, 4)]);
        assert_eq!(s.len(), 2);
        assert_eq!((s[1].c0, s[1].seg(0), s[1].off(0)), (2, 1, 0));
    }
}
