"""Classical baselines for evaluate.py: CBM3D (noise) and the dark channel prior (haze).

CBM3D is the `bm3d` PyPI package (Makinen et al.), given the true noise sigma, as the
denoising literature does. The dark channel prior follows He, Sun and Tang (2009/2011):
15x15 dark channel, omega 0.95, atmospheric light from the brightest 0.1% of the dark
channel, transmission refined with a guided filter (He et al. 2010; radius 60,
eps 1e-4, grey guide), t >= 0.1.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def cbm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """noisy float HxWx3 in [0,1], sigma on the 0-255 scale -> denoised float image."""
    import bm3d

    return np.clip(bm3d.bm3d_rgb(noisy, sigma / 255.0), 0, 1)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return ndimage.uniform_filter(x, size=2 * r + 1, mode="reflect")


def guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    mg, ms = _box(guide, r), _box(src, r)
    cov = _box(guide * src, r) - mg * ms
    var = _box(guide * guide, r) - mg * mg
    a = cov / (var + eps)
    b = ms - a * mg
    return _box(a, r) * guide + _box(b, r)


def dark_channel(img: np.ndarray, patch: int = 15) -> np.ndarray:
    return ndimage.minimum_filter(img.min(axis=2), size=patch, mode="nearest")


def dehaze_dcp(hazy: np.ndarray, patch: int = 15, omega: float = 0.95, t0: float = 0.1, r: int = 60, eps: float = 1e-4) -> np.ndarray:
    """hazy float HxWx3 in [0,1] -> dehazed float image."""
    hazy = hazy.astype(np.float64)
    dark = dark_channel(hazy, patch)
    n = max(1, int(dark.size * 0.001))
    idx = np.argsort(dark.ravel())[-n:]
    flat = hazy.reshape(-1, 3)
    A = flat[idx][np.argmax(flat[idx].sum(1))]
    t = 1.0 - omega * dark_channel(hazy / np.maximum(A, 1e-6), patch)
    grey = hazy @ np.array([0.299, 0.587, 0.114])
    r = min(r, max(1, min(hazy.shape[:2]) // 4))
    t = np.clip(guided_filter(grey, t, r, eps), t0, 1.0)
    return np.clip((hazy - A) / t[..., None] + A, 0, 1)
