//! Self-ensemble (test-time augmentation): restore the image under several symmetries of
//! the square (quarter-turn rotations, each with and without a left-right mirror), undo each
//! symmetry on its result and average. The network is not equivariant to these, so the
//! results differ a little and their mean keeps less residual noise, at up to 8 times the
//! cost (gains measured in `docs/training.md`).
//!
//! Only symmetries that keep every detected degradation looking like its training data are
//! used ([`symmetries_for`]): the training synthesis runs after the flips and rotations of
//! augmentation, so rain always falls within 30 degrees of vertical and haze always thickens
//! towards the top. Noise alone (or nothing) uses all 8, rain the 4 half turns and mirrors,
//! haze the 2 mirrors, any other type the 2 mirrors.
//!
//! Same choice, order and conventions as the reference, `training/ensemble.py`: symmetry
//! `(k, mirror)` is `torch.rot90(x, k, dims=(2, 3))` (counter-clockwise quarter turns) and
//! then, when `mirror`, a left-right flip. The Prompt Net's probabilities are computed once,
//! on the image as given, by the caller.

use std::sync::atomic::AtomicBool;

use crate::exec::Runtime;
use crate::model::Model;
use crate::tensor::{Shape, Tensor};
use crate::tiling::{restore_tiled_cancellable_async, TileOptions, TileReport};
use crate::Result;

/// One symmetry of the square: `quarter_turns` counter-clockwise rotations, then a
/// left-right mirror when `mirror`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symmetry {
    pub quarter_turns: u8,
    pub mirror: bool,
}

/// The 8 symmetries in the reference's order (identity first).
pub const SYMMETRIES: [Symmetry; 8] = {
    let mut all = [Symmetry {
        quarter_turns: 0,
        mirror: false,
    }; 8];
    let mut i = 0;
    while i < 8 {
        all[i] = Symmetry {
            quarter_turns: (i / 2) as u8,
            mirror: i % 2 == 1,
        };
        i += 1;
    }
    all
};

/// A type counts as present from this probability on (as in detection).
pub const PRESENT: f32 = 0.5;

impl Symmetry {
    /// Whether this symmetry keeps a degradation of type `name` looking like its training
    /// data: noise has no orientation, rain streaks keep theirs under half turns and mirrors,
    /// haze (and any type not known here) only under mirrors.
    pub fn keeps(self, name: &str) -> bool {
        match name {
            "noise" => true,
            "rain" => self.quarter_turns.is_multiple_of(2),
            _ => self.quarter_turns == 0,
        }
    }

    /// The image seen under this symmetry.
    pub fn apply(self, t: &Tensor) -> Tensor {
        let rotated = rotate(t, self.quarter_turns);
        if self.mirror {
            mirror(&rotated)
        } else {
            rotated
        }
    }

    /// Undoes [`Symmetry::apply`].
    pub fn invert(self, t: &Tensor) -> Tensor {
        let unmirrored = if self.mirror { mirror(t) } else { t.clone() };
        rotate(&unmirrored, (4 - self.quarter_turns % 4) % 4)
    }
}

/// The symmetries kept by every type present in `probs` (named by `names`), in
/// [`SYMMETRIES`] order; always at least the identity and the mirror.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn symmetries_for(names: &[String], probs: &[f32]) -> Vec<Symmetry> {
    SYMMETRIES
        .into_iter()
        .filter(|s| {
            names
                .iter()
                .zip(probs)
                // `!(p >= ..)`: a NaN probability counts as absent, as in the reference.
                .all(|(name, &p)| !(p >= PRESENT) || s.keeps(name))
        })
        .collect()
}

/// `k` counter-clockwise quarter turns of every channel, like `torch.rot90(x, k, (2, 3))`.
fn rotate(t: &Tensor, k: u8) -> Tensor {
    let Shape { c, h, w } = t.shape;
    let k = k % 4;
    let out_shape = if k.is_multiple_of(2) {
        Shape::new(c, h, w)
    } else {
        Shape::new(c, w, h)
    };
    let (oh, ow) = (out_shape.h, out_shape.w);
    let mut data = Vec::with_capacity(t.data.len());
    for ch in 0..c {
        let plane = &t.data[ch * h * w..(ch + 1) * h * w];
        for i in 0..oh {
            for j in 0..ow {
                // Source pixel of output (i, j).
                let (y, x) = match k {
                    0 => (i, j),
                    1 => (j, w - 1 - i),
                    2 => (h - 1 - i, w - 1 - j),
                    _ => (h - 1 - j, i),
                };
                data.push(plane[y * w + x]);
            }
        }
    }
    Tensor::new(out_shape, data)
}

/// Left-right mirror of every channel.
fn mirror(t: &Tensor) -> Tensor {
    let w = t.shape.w;
    let data = t
        .data
        .chunks_exact(w.max(1))
        .flat_map(|row| row.iter().rev().copied())
        .collect();
    Tensor::new(t.shape, data)
}

/// Restores `image` with `probs` under each symmetry that [`symmetries_for`] allows (each
/// pass tiled as [`restore_tiled_cancellable`] would) and returns the mean. Returns
/// `Ok(None)` once `cancel` is set. `progress(done, total)` counts tiles over all passes.
/// A tile size that had to shrink after running out of memory is kept for the later
/// passes. The report: the last pass's tile size, the tiles of all passes, each abandoned
/// tile size once, `passes` and `transposed` set.
#[cfg(not(target_arch = "wasm32"))]
pub fn restore_ensemble_cancellable(
    rt: &Runtime,
    model: &Model,
    image: &Tensor,
    probs: &[f32],
    opts: &TileOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<(Tensor, TileReport)>> {
    pollster::block_on(restore_ensemble_cancellable_async(
        rt, model, image, probs, opts, cancel, progress,
    ))
}

/// [`restore_ensemble_cancellable`] as a future (see
/// [`restore_tiled_cancellable_async`]).
pub async fn restore_ensemble_cancellable_async(
    rt: &Runtime,
    model: &Model,
    image: &Tensor,
    probs: &[f32],
    opts: &TileOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<(Tensor, TileReport)>> {
    let symmetries = symmetries_for(model.degradations(), probs);
    let passes = symmetries.len();
    let mut opts = *opts;
    let mut sum: Option<Tensor> = None;
    let mut report = TileReport {
        passes,
        transposed: symmetries.iter().any(|s| s.quarter_turns % 2 == 1),
        ..TileReport::default()
    };
    for (pass, sym) in symmetries.iter().enumerate() {
        let mut pass_progress =
            |done: usize, total: usize| progress(pass * total + done, passes * total);
        let Some((out, r)) = restore_tiled_cancellable_async(
            rt,
            model,
            &sym.apply(image),
            probs,
            &opts,
            cancel,
            &mut pass_progress,
        )
        .await?
        else {
            return Ok(None);
        };
        let out = sym.invert(&out);
        match sum.as_mut() {
            None => sum = Some(out),
            Some(s) => s.data.iter_mut().zip(&out.data).for_each(|(a, b)| *a += b),
        }
        if !r.retries.is_empty() {
            // Start the later passes at the size that fitted instead of failing again.
            opts.tile = r.tile.or(opts.tile);
        }
        report.tile = r.tile;
        report.tiles += r.tiles;
        for t in r.retries {
            if !report.retries.contains(&t) {
                report.retries.push(t);
            }
        }
    }
    let mut mean = sum.expect("the identity is always kept");
    mean.data.iter_mut().for_each(|v| *v /= passes as f32);
    Ok(Some((mean, report)))
}

/// Refuses a result with NaN or infinite values. The encoders write NaN as 0, so such a
/// restoration would be saved as a black (or partly black) image with a success status;
/// the loader refuses non-finite weights, so what is left is a forward that overflows f32
/// (weights too large for the activations they meet, a wrongly converted model). `what`
/// names the result: "the restored image", "the degradation probabilities".
pub fn check_finite(what: &str, data: &[f32]) -> Result<()> {
    let bad = data.iter().filter(|v| !v.is_finite()).count();
    if bad == 0 {
        return Ok(());
    }
    Err(crate::Error::NonFinite(format!(
        "{what}: {bad} of {} values are NaN or infinite: the model overflows f32 on this image (a broken or wrongly converted model file, or weights too large); nothing is written for it",
        data.len()
    )))
}

/// One restoration as the CLI and the app run it: the self-ensemble when `ensemble`, else
/// one tiled pass ([`crate::tiling::restore_tiled_cancellable`]); a result that is not
/// finite is an error ([`check_finite`]).
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
pub fn restore_cancellable(
    rt: &Runtime,
    model: &Model,
    image: &Tensor,
    probs: &[f32],
    opts: &TileOptions,
    ensemble: bool,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<(Tensor, TileReport)>> {
    pollster::block_on(restore_cancellable_async(
        rt, model, image, probs, opts, ensemble, cancel, progress,
    ))
}

/// [`restore_cancellable`] as a future: what the web page awaits.
#[allow(clippy::too_many_arguments)]
pub async fn restore_cancellable_async(
    rt: &Runtime,
    model: &Model,
    image: &Tensor,
    probs: &[f32],
    opts: &TileOptions,
    ensemble: bool,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<(Tensor, TileReport)>> {
    let r = if ensemble {
        restore_ensemble_cancellable_async(rt, model, image, probs, opts, cancel, progress).await?
    } else {
        restore_tiled_cancellable_async(rt, model, image, probs, opts, cancel, progress).await?
    };
    if let Some((out, _)) = &r {
        check_finite("the restored image", &out.data)?;
    }
    Ok(r)
}

/// [`restore_cancellable`] without cancellation.
#[cfg(not(target_arch = "wasm32"))]
pub fn restore(
    rt: &Runtime,
    model: &Model,
    image: &Tensor,
    probs: &[f32],
    opts: &TileOptions,
    ensemble: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Tensor, TileReport)> {
    let never = AtomicBool::new(false);
    restore_cancellable(rt, model, image, probs, opts, ensemble, &never, progress)
        .map(|r| r.expect("a restoration that cannot be cancelled always finishes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(c: usize, h: usize, w: usize) -> Tensor {
        Tensor::new(
            Shape::new(c, h, w),
            (0..c * h * w).map(|v| v as f32).collect(),
        )
    }

    #[test]
    fn rotation_is_counter_clockwise_like_torch_rot90() {
        // [[0 1 2] [3 4 5]] -> [[2 5] [1 4] [0 3]] (training/tests/test_ensemble.py)
        let t = ramp(1, 2, 3);
        let r = SYMMETRIES[2].apply(&t);
        assert_eq!(r.shape, Shape::new(1, 3, 2));
        assert_eq!(r.data, vec![2.0, 5.0, 1.0, 4.0, 0.0, 3.0]);
        let m = SYMMETRIES[1].apply(&t);
        assert_eq!(m.data, vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    }

    #[test]
    fn symmetries_are_distinct_and_invert_exactly() {
        let t = ramp(3, 4, 7);
        let images: Vec<Tensor> = SYMMETRIES.iter().map(|s| s.apply(&t)).collect();
        for (i, (s, img)) in SYMMETRIES.iter().zip(&images).enumerate() {
            assert_eq!(s.invert(img), t, "{s:?}");
            for other in &images[..i] {
                assert_ne!(img, other, "{s:?} repeats an earlier symmetry");
            }
        }
        assert_eq!(images[0], t, "the identity comes first");
    }

    #[test]
    fn symmetries_follow_the_degradations_present() {
        let names: Vec<String> = ["noise", "rain", "haze"].map(String::from).to_vec();
        let turns = |probs: &[f32]| -> Vec<(u8, bool)> {
            symmetries_for(&names, probs)
                .iter()
                .map(|s| (s.quarter_turns, s.mirror))
                .collect()
        };
        assert_eq!(turns(&[0.0, 0.0, 0.0]).len(), 8, "clean: all 8");
        assert_eq!(turns(&[1.0, 0.49, 0.2]).len(), 8, "noise alone: all 8");
        let half_turns = vec![(0, false), (0, true), (2, false), (2, true)];
        assert_eq!(
            turns(&[0.9, 0.5, 0.0]),
            half_turns,
            "rain: half turns and mirrors"
        );
        let mirrors = vec![(0, false), (0, true)];
        assert_eq!(turns(&[0.0, 0.0, 0.7]), mirrors, "haze: mirrors");
        assert_eq!(turns(&[1.0, 1.0, 1.0]), mirrors);
        let other: Vec<String> = ["snow"].map(String::from).to_vec();
        assert_eq!(
            symmetries_for(&other, &[0.8]).len(),
            2,
            "unknown types: mirrors"
        );
    }
}
