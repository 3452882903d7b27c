"""Image quality metrics of MODEL.md section 5 (docs/metrics.md gives the formulas).

PSNR and SSIM on RGB in [0, 255] after rounding to 8 bits, over the whole image.
SSIM: Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), 'valid' filtering
(no padding), C1 = (0.01*255)^2, C2 = (0.03*255)^2, computed per channel and averaged.
Y-channel PSNR uses ITU-R BT.601 luma in [16, 235] (MATLAB rgb2ycbcr), unrounded.
The Rust CLI (`wgpu-restore eval`, src/metrics.rs) implements the same formulas.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve


def to_u8(img) -> np.ndarray:
    """float in [0,1] -> uint8 by rounding; uint8 passes through."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    return np.clip(np.round(img.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def psnr(a, b) -> float:
    a, b = to_u8(a).astype(np.float64), to_u8(b).astype(np.float64)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def luma(img_u8: np.ndarray) -> np.ndarray:
    x = img_u8.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def psnr_y(a, b) -> float:
    ya, yb = luma(to_u8(a)), luma(to_u8(b))
    mse = np.mean((ya - yb) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    ax = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(ax**2) / (2 * sigma**2))
    w = np.outer(g, g)
    return w / w.sum()


def _filter(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return fftconvolve(x, w[::-1, ::-1], mode="valid")


def ssim(a, b) -> float:
    """Mean SSIM over channels of two HxWx3 images (images smaller than 11 px: window shrinks)."""
    a, b = to_u8(a).astype(np.float64), to_u8(b).astype(np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    size = min(11, a.shape[0], a.shape[1])
    w = gaussian_window(size, 1.5)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(a.shape[2]):
        x, y = a[..., c], b[..., c]
        mx, my = _filter(x, w), _filter(y, w)
        sxx = _filter(x * x, w) - mx * mx
        syy = _filter(y * y, w) - my * my
        sxy = _filter(x * y, w) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(m.mean())
    return float(np.mean(vals))
