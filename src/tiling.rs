//! Tiled restoration of large images: tile layout with overlap, smooth blending weights,
//! stitching, an automatic tile size from the device's limits, and a retry with smaller
//! tiles when the device runs out of memory.
//!
//! Layout: along each axis the tiles are `tile` long and start every `tile - overlap`
//! pixels (the overlap cut to at most half a tile; the step rounded down to a multiple of
//! `align`, so the network's windows and down-sampling stay aligned with the whole-image
//! grid); the last tile is moved back to end at the image edge. Every tile has the same
//! size, so one prepared forward serves all.
//!
//! Blending: each tile's output is weighted by a separable raised-cosine ramp that rises
//! from ~0 to 1 across each overlap it shares with a neighbour (and is 1 elsewhere,
//! including at the image border); the stitched image is the weighted sum divided by the
//! sum of the weights, so no seam shows.

use crate::error::{Error, Result};
use crate::exec::{plan_function, Runtime};
use crate::model::{Model, Op};
use crate::tensor::{Shape, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};

/// One tile: top-left corner and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub y: usize,
    pub x: usize,
    pub h: usize,
    pub w: usize,
}

/// Start offsets along one axis of length `side`.
pub fn axis_starts(side: usize, tile: usize, overlap: usize, align: usize) -> Vec<usize> {
    if side <= tile {
        return vec![0];
    }
    let align = align.max(1);
    // At most half a tile: a larger overlap (e.g. `--tile 24` with the default overlap 32)
    // would start a tile every pixel and run hundreds of forwards for no better blend.
    let overlap = overlap.min(tile / 2);
    let mut stride = (tile - overlap) / align * align;
    if stride == 0 {
        stride = (tile - overlap).max(1);
    }
    let mut starts = Vec::new();
    let mut s = 0;
    while s + tile < side {
        starts.push(s);
        s += stride;
    }
    starts.push(side - tile);
    starts.dedup();
    starts
}

/// The tiles covering an `h x w` image.
pub fn layout(h: usize, w: usize, tile: usize, overlap: usize, align: usize) -> Vec<Tile> {
    let ys = axis_starts(h, tile, overlap, align);
    let xs = axis_starts(w, tile, overlap, align);
    let (th, tw) = (tile.min(h), tile.min(w));
    let mut out = Vec::with_capacity(ys.len() * xs.len());
    for &y in &ys {
        for &x in &xs {
            out.push(Tile { y, x, h: th, w: tw });
        }
    }
    out
}

/// Blending weights along one axis for the tile starting at `starts[i]` of length `len`.
pub fn axis_weights(starts: &[usize], i: usize, len: usize) -> Vec<f32> {
    let s = starts[i];
    let mut w = vec![1.0f32; len];
    let ramp = |t: f32| 0.5 - 0.5 * (std::f32::consts::PI * t).cos();
    if i > 0 {
        let o = (starts[i - 1] + len).saturating_sub(s).min(len);
        for (p, v) in w.iter_mut().take(o).enumerate() {
            *v *= ramp((p as f32 + 0.5) / o as f32);
        }
    }
    if i + 1 < starts.len() {
        let o = (s + len).saturating_sub(starts[i + 1]).min(len);
        for p in 0..o {
            w[len - 1 - p] *= ramp((p as f32 + 0.5) / o as f32);
        }
    }
    w
}

/// The `C x t.h x t.w` window of `image` at `t`.
pub fn extract(image: &Tensor, t: &Tile) -> Tensor {
    let s = image.shape;
    let mut data = Vec::with_capacity(s.c * t.h * t.w);
    for c in 0..s.c {
        for y in t.y..t.y + t.h {
            let row = (c * s.h + y) * s.w;
            data.extend_from_slice(&image.data[row + t.x..row + t.x + t.w]);
        }
    }
    Tensor::new(Shape::new(s.c, t.h, t.w), data)
}

/// Accumulates weighted tiles into a whole image.
pub struct Stitcher {
    shape: Shape,
    acc: Vec<f32>,
    wsum: Vec<f32>,
}

impl Stitcher {
    pub fn new(shape: Shape) -> Self {
        Stitcher {
            shape,
            acc: vec![0.0; shape.numel()],
            wsum: vec![0.0; shape.plane()],
        }
    }
    /// Adds a tile's output with separable weights `wy` (rows) x `wx` (columns).
    pub fn add(&mut self, t: &Tile, out: &Tensor, wy: &[f32], wx: &[f32]) {
        let s = self.shape;
        for (y, &wyv) in wy.iter().enumerate().take(t.h) {
            for (x, &wxv) in wx.iter().enumerate().take(t.w) {
                let wt = wyv * wxv;
                let p = (t.y + y) * s.w + t.x + x;
                self.wsum[p] += wt;
                for c in 0..s.c {
                    self.acc[c * s.plane() + p] += wt * out.data[(c * t.h + y) * t.w + x];
                }
            }
        }
    }
    pub fn finish(mut self) -> Tensor {
        let plane = self.shape.plane();
        for c in 0..self.shape.c {
            for p in 0..plane {
                let w = self.wsum[p];
                self.acc[c * plane + p] /= if w > 0.0 { w } else { 1.0 };
            }
        }
        Tensor::new(self.shape, self.acc)
    }
}

/// The largest `multiple` of the model's `reflect_pad` nodes in `restore` (1 if none; never
/// 0): tile starts are aligned to it.
pub fn model_alignment(model: &Model) -> usize {
    model
        .function("restore")
        .map(|f| {
            f.ops
                .iter()
                .filter_map(|op| match op {
                    Op::ReflectPad { multiple } => Some(*multiple),
                    _ => None,
                })
                .max()
                .unwrap_or(1)
        })
        .unwrap_or(1)
        .max(1)
}

/// Whether an error means the device ran out of memory or a buffer exceeded its limits.
pub fn is_out_of_memory(e: &Error) -> bool {
    match e {
        Error::BufferTooLarge { .. } => true,
        Error::Gpu(m) | Error::Device(m) => {
            let m = m.to_ascii_lowercase();
            m.contains("out of memory")
                || m.contains("outofmemory")
                || m.contains("not enough memory")
        }
        _ => false,
    }
}

/// Tiling options.
#[derive(Clone, Copy, Debug)]
pub struct TileOptions {
    /// Tile side; `None` picks one (the whole image when it fits).
    pub tile: Option<usize>,
    /// Overlap between neighbouring tiles, in pixels.
    pub overlap: usize,
    /// Device memory the activations of one forward may use, in bytes.
    pub memory_budget: u64,
    /// Largest single buffer the device binds, in bytes.
    pub max_binding: u64,
    /// Whether a value whose single attention head is over `max_binding` may be bound in
    /// pieces (see [`Runtime::split_heads`]).
    pub split_heads: bool,
    /// Longest image side one forward takes: the device's workgroups per grid dimension.
    /// conv2d launches one workgroup per output row, so a side past this cannot be
    /// dispatched however little memory it needs (a 70000 x 900 panorama); such images
    /// are tiled.
    pub max_side: usize,
    /// Smallest tile tried after out-of-memory errors.
    pub min_tile: usize,
    /// How the device stores values (sets the bytes each one takes).
    pub precision: crate::ops::Precision,
}

impl TileOptions {
    /// Defaults for a runtime's device: its binding limit, and three quarters of its memory
    /// for one forward's activations (2 GiB where the device does not say how much it has).
    pub fn for_runtime(rt: &Runtime) -> Self {
        TileOptions {
            tile: None,
            overlap: 32,
            memory_budget: rt.gpu().memory.map_or(DEFAULT_BUDGET, |m| m / 4 * 3),
            max_binding: rt.binding_limit(),
            split_heads: rt.split_heads(),
            max_side: rt.gpu().limits.max_compute_workgroups_per_dimension as usize,
            min_tile: 64,
            precision: rt.precision(),
        }
    }
}

/// The activation budget where the device's memory is not known.
pub const DEFAULT_BUDGET: u64 = 2 << 30;

/// Whether one `restore` forward at `h x w` fits the limits.
pub fn fits(model: &Model, h: usize, w: usize, opts: &TileOptions) -> Result<bool> {
    let inputs = model.restore_inputs(h, w);
    // Every value's sides, not only the image's: the model pads to a multiple first.
    let shapes = model.infer_shapes("restore", &inputs)?;
    if shapes.values().any(|s| s.h.max(s.w) > opts.max_side) {
        return Ok(false);
    }
    // Values over one binding are split into segments; one that cannot be (a single
    // channel over the limit) does not fit.
    let planned = plan_function(
        model,
        "restore",
        &inputs,
        opts.precision,
        opts.max_binding,
        opts.split_heads,
    );
    let plan = match planned {
        Ok(p) => p,
        Err(Error::BufferTooLarge { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let largest = plan.slots.iter().copied().max().unwrap_or(0);
    Ok(largest <= opts.max_binding && plan.peak_bytes <= opts.memory_budget)
}

/// The tile side for an `h x w` image: `None` if the whole image fits in one forward, else
/// the largest candidate side whose forward fits the limits.
pub fn auto_tile(model: &Model, h: usize, w: usize, opts: &TileOptions) -> Result<Option<usize>> {
    if fits(model, h, w, opts)? {
        return Ok(None);
    }
    for t in [2048usize, 1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64] {
        if t >= h.max(w) {
            continue;
        }
        if fits(model, t.min(h), t.min(w), opts)? {
            return Ok(Some(t));
        }
    }
    Ok(Some(opts.min_tile))
}

/// What a tiled restoration did.
#[derive(Clone, Debug)]
pub struct TileReport {
    /// The tile side used (`None`: the whole image in one forward).
    pub tile: Option<usize>,
    pub tiles: usize,
    /// Tile sides abandoned after out-of-memory errors.
    pub retries: Vec<usize>,
    /// Forwards averaged over the whole image: 1, or the symmetries of a self-ensemble
    /// (`crate::ensemble`).
    pub passes: usize,
    /// Whether some passes ran at the transposed size (a self-ensemble's quarter turns), so
    /// the runtime holds prepared buffers for that size too.
    pub transposed: bool,
}

impl Default for TileReport {
    fn default() -> Self {
        TileReport {
            tile: None,
            tiles: 0,
            retries: Vec::new(),
            passes: 1,
            transposed: false,
        }
    }
}

/// Restores `image` with `probs`, in tiles when asked or needed; halves the tile and tries
/// again when the device runs out of memory, down to `opts.min_tile`.
/// `progress(done, total)` is called after every tile.
#[cfg(not(target_arch = "wasm32"))]
pub fn restore_tiled(
    rt: &Runtime,
    model: &Model,
    image: &Tensor,
    probs: &[f32],
    opts: &TileOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Tensor, TileReport)> {
    let never = AtomicBool::new(false);
    restore_tiled_cancellable(rt, model, image, probs, opts, &never, progress)
        .map(|r| r.expect("a restoration that cannot be cancelled always finishes"))
}

/// [`restore_tiled`] that checks `cancel` before every tile and returns `Ok(None)` once it
/// is set. A whole-image forward cannot stop midway: its result is dropped instead.
#[cfg(not(target_arch = "wasm32"))]
pub fn restore_tiled_cancellable(
    rt: &Runtime,
    model: &Model,
    image: &Tensor,
    probs: &[f32],
    opts: &TileOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<(Tensor, TileReport)>> {
    pollster::block_on(restore_tiled_cancellable_async(
        rt, model, image, probs, opts, cancel, progress,
    ))
}

/// [`restore_tiled_cancellable`] as a future: each tile's forward is awaited
/// ([`Runtime::restore_async`]), so a web page stays responsive between and during tiles.
pub async fn restore_tiled_cancellable_async(
    rt: &Runtime,
    model: &Model,
    image: &Tensor,
    probs: &[f32],
    opts: &TileOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<(Tensor, TileReport)>> {
    let (h, w) = (image.shape.h, image.shape.w);
    let align = model_alignment(model);
    // A tile asked for is kept within what one forward can dispatch: its padded side must
    // not pass `max_side` (`--tile 100000` on a 70000-pixel panorama).
    let largest_tile = (opts.max_side / align * align).max(1);
    let mut tile = match opts.tile {
        Some(t) => Some(t.clamp(1, largest_tile)),
        None => auto_tile(model, h, w, opts)?,
    };
    let mut report = TileReport::default();
    loop {
        let attempt = match tile {
            Some(t) if t < h.max(w) => {
                run_tiles(
                    rt,
                    model,
                    image,
                    probs,
                    t,
                    opts.overlap,
                    align,
                    cancel,
                    progress,
                )
                .await
            }
            _ => {
                progress(0, 1);
                let r = rt.restore_async(model, image, probs).await;
                if r.is_ok() {
                    progress(1, 1);
                }
                r.map(|t| Some((t, 1)))
            }
        };
        match attempt {
            Ok(_) if cancel.load(Ordering::Relaxed) => return Ok(None),
            Ok(None) => return Ok(None),
            Ok(Some((out, n))) => {
                report.tile = tile.filter(|&t| t < h.max(w));
                report.tiles = n;
                return Ok(Some((out, report)));
            }
            Err(e) if is_out_of_memory(&e) => {
                let current = tile.unwrap_or(h.max(w)).min(h.max(w));
                let next = (current / 2 / align * align).max(1);
                if current <= opts.min_tile || next < opts.min_tile.min(current) {
                    return Err(e);
                }
                report.retries.push(current);
                // Free the buffers prepared for the size that failed.
                rt.release(model);
                tile = Some(next.max(opts.min_tile));
            }
            Err(e) => return Err(e),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_tiles(
    rt: &Runtime,
    model: &Model,
    image: &Tensor,
    probs: &[f32],
    tile: usize,
    overlap: usize,
    align: usize,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<(Tensor, usize)>> {
    let (h, w) = (image.shape.h, image.shape.w);
    let ys = axis_starts(h, tile, overlap, align);
    let xs = axis_starts(w, tile, overlap, align);
    let (th, tw) = (tile.min(h), tile.min(w));
    let total = ys.len() * xs.len();
    let mut st = Stitcher::new(image.shape);
    let mut done = 0;
    progress(0, total);
    for (iy, &y) in ys.iter().enumerate() {
        let wy = axis_weights(&ys, iy, th);
        for (ix, &x) in xs.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let wx = axis_weights(&xs, ix, tw);
            let t = Tile { y, x, h: th, w: tw };
            let out = rt.restore_async(model, &extract(image, &t), probs).await?;
            st.add(&t, &out, &wy, &wx);
            done += 1;
            progress(done, total);
        }
    }
    Ok(Some((st.finish(), total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_cover_and_align() {
        assert_eq!(axis_starts(100, 128, 16, 8), vec![0]);
        let s = axis_starts(300, 128, 32, 8);
        assert_eq!(s, vec![0, 96, 172]);
        let s = axis_starts(257, 64, 16, 8);
        assert_eq!(*s.last().unwrap() + 64, 257);
        for p in s.windows(2) {
            assert!(p[1] - p[0] <= 48 && p[1] > p[0]);
        }
        // An overlap past half the tile is cut to half: tiles start every 12, not every 1.
        assert_eq!(axis_starts(40, 24, 32, 4), vec![0, 12, 16]);
    }

    #[test]
    fn weights_partition_unity() {
        // Identity "network": stitching the tiles of an image gives it back exactly.
        let (h, w) = (45, 70);
        let data: Vec<f32> = (0..3 * h * w).map(|i| (i % 97) as f32 / 97.0).collect();
        let img = Tensor::new(Shape::new(3, h, w), data);
        for (tile, ov) in [(16, 4), (24, 8), (32, 0), (20, 19)] {
            let ys = axis_starts(h, tile, ov, 4);
            let xs = axis_starts(w, tile, ov, 4);
            let mut st = Stitcher::new(img.shape);
            for (iy, &y) in ys.iter().enumerate() {
                for (ix, &x) in xs.iter().enumerate() {
                    let t = Tile {
                        y,
                        x,
                        h: tile,
                        w: tile,
                    };
                    let wy = axis_weights(&ys, iy, tile);
                    let wx = axis_weights(&xs, ix, tile);
                    assert!(wy.iter().chain(&wx).all(|v| *v > 0.0 && *v <= 1.0));
                    st.add(&t, &extract(&img, &t), &wy, &wx);
                }
            }
            let d = st.finish().max_abs_diff(&img);
            assert!(d < 1e-5, "tile {tile} overlap {ov}: {d}");
        }
    }
}
