//! Image quality metrics, exactly as `docs/metrics.md` (and MODEL.md section 5) define them:
//! PSNR, SSIM and Y-channel PSNR on 8-bit RGB images (values 0..=255), over the whole
//! image (no border crop), computed in f64.
//!
//! - PSNR: `10 log10(255^2 / MSE)`, MSE over all pixels and all three channels;
//!   identical images give `+inf`.
//! - SSIM: Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5, normalized to sum 1),
//!   `C1 = (0.01*255)^2`, `C2 = (0.03*255)^2`, filtered over the 'valid' region only (the
//!   SSIM map is `(H-10) x (W-10)`, no padding), as MATLAB `ssim_index` and the PromptIR /
//!   BasicSR `calculate_ssim` do; the map is averaged per channel and the three channel
//!   means are averaged. For images smaller than 11 pixels on a side the window shrinks to
//!   `min(11, H, W)` (same sigma), as `training/metrics.py` does.
//! - Y-PSNR: PSNR of the luma `Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255` (R, G, B
//!   in 0..=255; Y is not rounded), BasicSR's `rgb2ycbcr(y_only=True)` scaled to 0..=255.

/// Side of the SSIM window.
pub const SSIM_WINDOW: usize = 11;
/// Standard deviation of the SSIM Gaussian window.
pub const SSIM_SIGMA: f64 = 1.5;

/// An 8-bit RGB image, row-major, interleaved (`[r, g, b, r, g, b, ...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb8 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Rgb8 {
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Self {
        assert_eq!(
            data.len(),
            width * height * 3,
            "RGB8 data does not match its size"
        );
        Rgb8 {
            width,
            height,
            data,
        }
    }
}

/// The metrics of one image pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// RGB PSNR in dB (`inf` for identical images).
    pub psnr: f64,
    /// Mean SSIM over the three channels; `None` only for empty images.
    pub ssim: Option<f64>,
    /// PSNR of the Y channel in dB.
    pub psnr_y: f64,
}

fn psnr_from_mse(mse: f64) -> f64 {
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

fn check(a: &Rgb8, b: &Rgb8) {
    assert!(
        a.width == b.width && a.height == b.height,
        "metrics of images of different sizes ({}x{} vs {}x{})",
        a.width,
        a.height,
        b.width,
        b.height
    );
}

/// RGB PSNR (dB) between two images of the same size.
pub fn psnr(a: &Rgb8, b: &Rgb8) -> f64 {
    check(a, b);
    let sum: f64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum();
    psnr_from_mse(sum / a.data.len().max(1) as f64)
}

/// The BasicSR luma of one RGB pixel (0..=255, not rounded).
pub fn luma(r: u8, g: u8, b: u8) -> f64 {
    16.0 + (65.481 * r as f64 + 128.553 * g as f64 + 24.966 * b as f64) / 255.0
}

/// PSNR (dB) of the Y channel.
pub fn psnr_y(a: &Rgb8, b: &Rgb8) -> f64 {
    check(a, b);
    let n = a.width * a.height;
    let sum: f64 = a
        .data
        .chunks_exact(3)
        .zip(b.data.chunks_exact(3))
        .map(|(p, q)| {
            let d = luma(p[0], p[1], p[2]) - luma(q[0], q[1], q[2]);
            d * d
        })
        .sum();
    psnr_from_mse(sum / n.max(1) as f64)
}

/// The normalized 1-D Gaussian (the 2-D window is its outer product, as cv2's
/// `getGaussianKernel(11, 1.5) @ getGaussianKernel(11, 1.5).T`).
pub fn gaussian_1d(size: usize, sigma: f64) -> Vec<f64> {
    let c = (size as f64 - 1.0) / 2.0;
    let g: Vec<f64> = (0..size)
        .map(|i| {
            let x = i as f64 - c;
            (-(x * x) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let s: f64 = g.iter().sum();
    g.iter().map(|v| v / s).collect()
}

/// 'valid' separable filtering of an `h x w` plane: output `(h-k+1) x (w-k+1)`.
fn filter_valid(p: &[f64], h: usize, w: usize, k: &[f64]) -> Vec<f64> {
    let n = k.len();
    let (oh, ow) = (h + 1 - n, w + 1 - n);
    // Horizontal pass: h x ow.
    let mut tmp = vec![0.0; h * ow];
    for y in 0..h {
        let row = &p[y * w..(y + 1) * w];
        for x in 0..ow {
            let mut s = 0.0;
            for (i, kv) in k.iter().enumerate() {
                s += kv * row[x + i];
            }
            tmp[y * ow + x] = s;
        }
    }
    // Vertical pass: oh x ow.
    let mut out = vec![0.0; oh * ow];
    for y in 0..oh {
        for (i, kv) in k.iter().enumerate() {
            let src = &tmp[(y + i) * ow..(y + i + 1) * ow];
            let dst = &mut out[y * ow..(y + 1) * ow];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += kv * s;
            }
        }
    }
    out
}

/// SSIM of one channel (planes of 0..=255 values).
pub fn ssim_plane(a: &[f64], b: &[f64], h: usize, w: usize) -> Option<f64> {
    if h == 0 || w == 0 {
        return None;
    }
    let k = gaussian_1d(SSIM_WINDOW.min(h).min(w), SSIM_SIGMA);
    let c1 = (0.01f64 * 255.0).powi(2);
    let c2 = (0.03f64 * 255.0).powi(2);
    let aa: Vec<f64> = a.iter().map(|v| v * v).collect();
    let bb: Vec<f64> = b.iter().map(|v| v * v).collect();
    let ab: Vec<f64> = a.iter().zip(b).map(|(x, y)| x * y).collect();
    let mu1 = filter_valid(a, h, w, &k);
    let mu2 = filter_valid(b, h, w, &k);
    let s11 = filter_valid(&aa, h, w, &k);
    let s22 = filter_valid(&bb, h, w, &k);
    let s12 = filter_valid(&ab, h, w, &k);
    let mut sum = 0.0;
    for i in 0..mu1.len() {
        let (m1, m2) = (mu1[i], mu2[i]);
        let (m1s, m2s, m12) = (m1 * m1, m2 * m2, m1 * m2);
        let v1 = s11[i] - m1s;
        let v2 = s22[i] - m2s;
        let v12 = s12[i] - m12;
        sum += ((2.0 * m12 + c1) * (2.0 * v12 + c2)) / ((m1s + m2s + c1) * (v1 + v2 + c2));
    }
    Some(sum / mu1.len() as f64)
}

/// Mean SSIM over the R, G and B channels.
pub fn ssim(a: &Rgb8, b: &Rgb8) -> Option<f64> {
    check(a, b);
    let (h, w) = (a.height, a.width);
    let mut total = 0.0;
    for c in 0..3 {
        let pa: Vec<f64> = a
            .data
            .iter()
            .skip(c)
            .step_by(3)
            .map(|&v| v as f64)
            .collect();
        let pb: Vec<f64> = b
            .data
            .iter()
            .skip(c)
            .step_by(3)
            .map(|&v| v as f64)
            .collect();
        total += ssim_plane(&pa, &pb, h, w)?;
    }
    Some(total / 3.0)
}

/// PSNR, SSIM and Y-PSNR of `restored` against `target`.
pub fn score(restored: &Rgb8, target: &Rgb8) -> Scores {
    Scores {
        psnr: psnr(restored, target),
        ssim: ssim(restored, target),
        psnr_y: psnr_y(restored, target),
    }
}

/// Arithmetic means of per-image scores (SSIM over the images that have one).
pub fn mean(scores: &[Scores]) -> Option<Scores> {
    if scores.is_empty() {
        return None;
    }
    let n = scores.len() as f64;
    let ssims: Vec<f64> = scores.iter().filter_map(|s| s.ssim).collect();
    Some(Scores {
        psnr: scores.iter().map(|s| s.psnr).sum::<f64>() / n,
        ssim: (!ssims.is_empty()).then(|| ssims.iter().sum::<f64>() / ssims.len() as f64),
        psnr_y: scores.iter().map(|s| s.psnr_y).sum::<f64>() / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(w: usize, h: usize, f: impl Fn(usize, usize, usize) -> u8) -> Rgb8 {
        let mut d = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    d.push(f(x, y, c));
                }
            }
        }
        Rgb8::new(w, h, d)
    }

    #[test]
    fn psnr_known_values() {
        let a = img(16, 12, |_, _, _| 100);
        let b = img(16, 12, |_, _, _| 110);
        // MSE 100 -> 10 log10(65025 / 100) = 28.1308 dB.
        assert!((psnr(&a, &b) - 28.130803608679106).abs() < 1e-12);
        assert!(psnr(&a, &a).is_infinite());
        // Uniform shift of all channels: Y shifts by (65.481+128.553+24.966)/255*10.
        let dy = (65.481 + 128.553 + 24.966) / 255.0 * 10.0;
        let expect = 10.0 * (65025.0f64 / (dy * dy)).log10();
        assert!((psnr_y(&a, &b) - expect).abs() < 1e-9);
    }

    #[test]
    fn ssim_properties() {
        let a = img(32, 24, |x, y, c| ((x * 7 + y * 13 + c * 50) % 256) as u8);
        assert!((ssim(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        let b = img(32, 24, |x, y, c| {
            ((x * 7 + y * 13 + c * 50 + 9) % 256) as u8
        });
        let s = ssim(&a, &b).unwrap();
        assert!(s < 1.0 && s > -1.0, "{s}");
        // Small images: the window shrinks to the smaller side (as training/metrics.py).
        let small = ssim(&img(10, 40, |_, _, _| 0), &img(10, 40, |_, _, _| 0)).unwrap();
        assert!((small - 1.0).abs() < 1e-12);
        let g = gaussian_1d(11, 1.5);
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!((g[5] - 0.26601172486179436).abs() < 1e-12, "{}", g[5]);
    }

    #[test]
    fn ssim_constant_images() {
        // Two flat images: the map is constant (2 m1 m2 + C1) / (m1^2 + m2^2 + C1).
        let a = img(11, 11, |_, _, _| 50);
        let b = img(11, 11, |_, _, _| 60);
        let c1 = (0.01f64 * 255.0).powi(2);
        let expect = (2.0 * 50.0 * 60.0 + c1) / (2500.0 + 3600.0 + c1);
        assert!((ssim(&a, &b).unwrap() - expect).abs() < 1e-12);
    }
}
