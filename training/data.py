"""Training data: image loading, degradation synthesis, random training patches.

Everything here follows ../shared/MODEL.md section 4; docs/degradations.md describes the
synthesis and its parameters, and docs/degradations.png shows examples.

Images are float32 HxWx3 numpy arrays in [0, 1] (RGB). The degradation functions also
accept a 3xHxW torch tensor and then return one. Every random choice comes from the
`np.random.Generator` passed in, so a seeded generator reproduces a sample exactly.

Degradation types and label order: DEGRADATIONS = ("noise", "rain", "haze"), the order of
the Prompt Net outputs. `degrade` applies them in the fixed physical order haze, then
rain, then noise (noise is added by the camera, after the light went through haze and
rain).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

DEGRADATIONS = ("noise", "rain", "haze")
APPLY_ORDER = ("haze", "rain", "noise")
REPO = Path(__file__).resolve().parent.parent
DATA_ROOT = REPO.parent / "shared" / "data"
TRAIN_FOLDERS = ["train/bsd390", "train/train400", "train/urban60"]
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}

# ------------------------------------------------------------------------ loading


def read_rgb(path: Path) -> np.ndarray:
    """uint8 HxWx3 RGB; grey (and palette, alpha) images are converted to 3 channels."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTS)


def load_images(root: Path | None = None, folders: Sequence[str] = TRAIN_FOLDERS) -> list[np.ndarray]:
    """Load every image of `root/folder` for each folder, once, as uint8 HxWx3 RGB."""
    root = Path(root) if root is not None else DATA_ROOT
    out = []
    for folder in folders:
        paths = list_images(root / folder)
        if not paths:
            raise FileNotFoundError(f"no images in {root / folder}")
        out.extend(read_rgb(p) for p in paths)
    return out


def to_float(img_u8: np.ndarray) -> np.ndarray:
    return img_u8.astype(np.float32) * np.float32(1.0 / 255.0)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round a [0, 1] float image to 8 bits (MODEL.md section 5)."""
    return np.clip(np.rint(np.asarray(img, np.float32) * 255.0), 0, 255).astype(np.uint8)


def _accept_torch(fn):
    """Let a numpy HxWx3 degradation also take (and return) a 3xHxW torch tensor."""

    @functools.wraps(fn)
    def wrapper(img, *args, **kwargs):
        if isinstance(img, torch.Tensor):
            arr = img.detach().cpu().permute(1, 2, 0).numpy().astype(np.float32)
            out = fn(arr, *args, **kwargs)
            return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))).to(img.device)
        return fn(np.asarray(img, dtype=np.float32), *args, **kwargs)

    return wrapper


# ------------------------------------------------------------------------ noise

BENCH_SIGMAS = (15, 25, 50)


def sample_sigma(rng: np.random.Generator) -> float:
    """60%: one of the benchmark levels {15, 25, 50}; 40%: uniform in [5, 55] (8-bit units)."""
    if rng.random() < 0.6:
        return float(BENCH_SIGMAS[rng.integers(len(BENCH_SIGMAS))])
    return float(rng.uniform(5.0, 55.0))


@_accept_torch
def add_noise(img: np.ndarray, sigma: float, rng: np.random.Generator, quantize: bool = True) -> np.ndarray:
    """Additive white Gaussian noise of standard deviation sigma/255.

    quantize=True is the PromptIR test protocol, an ordinary 8-bit file:
    uint8(clip(x*255 + sigma*n, 0, 255)) / 255, where uint8() truncates like numpy's astype.
    quantize=False keeps the values continuous but still clips to [0, 1].
    """
    n = rng.standard_normal(img.shape, dtype=np.float32)
    if quantize:
        # x comes from 8-bit data; round x*255 first so float error cannot move a level.
        noisy = np.clip(np.rint(img * 255.0) + np.float32(sigma) * n, 0, 255).astype(np.uint8)
        return noisy.astype(np.float32) * np.float32(1.0 / 255.0)
    return np.clip(img + np.float32(sigma / 255.0) * n, 0.0, 1.0)


# ------------------------------------------------------------------------ rain


def sample_rain_params(rng: np.random.Generator) -> dict:
    """One rain "look" per image (lengths in pixels at native resolution)."""
    return dict(
        angle=float(rng.uniform(-30.0, 30.0)),  # degrees from vertical, + leans like "\"
        density=float(math.exp(rng.uniform(math.log(6e-4), math.log(2.2e-3)))),  # streaks per pixel
        length=float(rng.uniform(10.0, 40.0)),  # mean streak length
        width=float(rng.uniform(0.35, 0.75)),  # Gaussian blur sigma of the 1-px line
        intensity=float(rng.uniform(0.5, 0.9)),  # peak brightness of the streaks
    )


_LINE_PEAK: dict[tuple[float, float], float] = {}


def _cross_offsets(thick: float) -> tuple[np.ndarray, float]:
    """Offsets across a streak (px) and the weight of each, for a line `thick` px wide drawn
    as parallel 1-px lines at most 0.5 px apart (a 1-px line: one offset of weight 1)."""
    if thick <= 1.0:
        return np.zeros(1), 1.0
    k = int(math.ceil(2.0 * (thick - 1.0))) + 1
    return np.linspace(-(thick - 1.0) / 2.0, (thick - 1.0) / 2.0, k), thick / k


def _line_peak(sigma: float, thick: float = 1.0) -> float:
    """Peak of a unit-density, pixel-centred vertical line `thick` px wide after the Gaussian blur."""
    key = (round(sigma, 3), round(thick, 3))
    if key not in _LINE_PEAK:
        line = np.zeros((1, 65), np.float32)
        offsets, wgt = _cross_offsets(thick)
        for o in offsets:  # bilinear splats, as rain_layer draws them
            x = 32.0 + o
            x0 = math.floor(x)
            line[0, x0] += wgt * (1.0 - (x - x0))
            line[0, x0 + 1] += wgt * (x - x0)
        _LINE_PEAK[key] = float(ndimage.gaussian_filter1d(line, sigma, axis=1, truncate=3.0).max())
    return _LINE_PEAK[key]


def rain_layer(h: int, w: int, rng: np.random.Generator, params: dict | None = None) -> np.ndarray:
    """Single-channel streak layer in [0, 1] (Rain100L-like: thin, bright, one direction).

    Streaks are straight segments with a common angle (+-3 degrees jitter, sd 1),
    lengths around `length` (x0.6..1.4), tapered over ~2 px at both ends, drawn by
    bilinear splatting of points every <= 0.5 px, then blurred with a Gaussian of
    sigma `width` (0.35..0.75 px: 1-2 px wide streaks with sharp edges). Overlaps saturate.

    Optional keys (sample_rain_layers; absent, the layer is drawn exactly as before):
    `thick` the line's width in px before the blur (parallel lines <= 0.5 px apart),
    `ramp` the length of the fade at each end in px (default 2), `profile` "box" (even
    brightness between the fades) or "cos" (a raised cosine over the whole length, the
    brightest point in the middle: a drop that enters and leaves the light during the
    exposure).
    """
    p = params or sample_rain_params(rng)
    thick, ramp = float(p.get("thick", 1.0)), float(p.get("ramp", 2.0))
    margin = p["length"] * 0.7 + 2
    area = (h + 2 * margin) * (w + 2 * margin)
    n = int(rng.poisson(p["density"] * area))
    layer = np.zeros(h * w, np.float32)
    if n > 0:
        ang = np.deg2rad(p["angle"] + np.clip(rng.normal(0.0, 1.0, n), -3.0, 3.0))
        lens = p["length"] * rng.uniform(0.6, 1.4, n)
        amp = p["intensity"] * rng.uniform(0.6, 1.0, n)
        cy = rng.uniform(-margin, h + margin, n)
        cx = rng.uniform(-margin, w + margin, n)
        k = int(math.ceil(lens.max() * 2)) + 1  # samples per streak, spacing <= 0.5 px
        t = np.linspace(-0.5, 0.5, k, dtype=np.float64)[None, :]
        step = lens / (k - 1)
        along = t * lens[:, None]  # pixels from centre
        ys = cy[:, None] + along * np.cos(ang)[:, None]
        xs = cx[:, None] + along * np.sin(ang)[:, None]
        if p.get("profile", "box") == "cos":
            taper = 0.5 * (1.0 + np.cos(2.0 * np.pi * t)) + np.zeros_like(lens[:, None])
        else:
            taper = np.clip((0.5 - np.abs(t)) * lens[:, None] / ramp, 0.0, 1.0)
        wts = (amp * step)[:, None] * taper
        offsets, owgt = _cross_offsets(thick)
        if len(offsets) > 1:  # a wide streak: parallel copies across it, each offset a share of the density
            ys = (ys[None] - offsets[:, None, None] * np.sin(ang)[None, :, None]).reshape(-1, k)
            xs = (xs[None] + offsets[:, None, None] * np.cos(ang)[None, :, None]).reshape(-1, k)
            wts = np.broadcast_to(wts[None] * owgt, (len(offsets), *wts.shape)).reshape(-1, k)
        ys, xs, wts = ys.ravel() - 0.5, xs.ravel() - 0.5, wts.ravel()  # pixel centres at +0.5
        y0, x0 = np.floor(ys), np.floor(xs)
        fy, fx = ys - y0, xs - x0
        y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
        for dy, dx, wgt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            layer += np.bincount(yy[ok] * w + xx[ok], weights=(wts * wgt)[ok], minlength=h * w).astype(np.float32)
    layer = layer.reshape(h, w)
    layer = ndimage.gaussian_filter(layer, p["width"], truncate=3.0)
    # A line's density is spread over ~1/peak pixels by the blur: rescale so the centre of
    # a streak reaches its amplitude, then let overlaps saturate.
    return np.clip(layer / _line_peak(p["width"], thick), 0.0, 1.0)


# Layered rain (sample_rain_layers): the range of the public synthetic rain sets. Far rain
# is short, thin, sharp and bright; near rain long (up to ~100 px), wide (up to 4 px), soft
# and faint, as out-of-focus drops close to the lens are.
RAIN_LAYERS_P = (0.35, 0.4, 0.25)  # 1, 2 or 3 layers
RAIN_CLASSIC_SHARE = 0.25  # layered draws that are the single Rain100L-like layer instead
RAIN_VEIL_SHARE = 0.4  # heavy rain (2-3 layers) gets a thin veil this often


def sample_rain_layers(rng: np.random.Generator) -> dict:
    """Real-rain look: {"layers": [rain_layer params, ...] far to near, "veil": v, "veil_A": a}.

    A quarter of the draws are the classic single layer (sample_rain_params). Otherwise
    1-3 layers, each at its own nearness u in [0, 1] (sorted, far first) with its own angle
    (a shared wind direction +-6 degrees), density, length, width, blur and opacity:

    - length (mean of the layer): log-uniform in 10-25 px far, x up to 5 near, at most 100
      (each streak x0.6..1.4 as before);
    - thick (line width before blur): 1 px far, up to 4 px near;
    - width (Gaussian blur sigma): 0.35-0.75 px far (sharp), up to ~2.3 px near (soft);
    - intensity: 0.5-0.9 far, down to ~0.15-0.35 near (faint);
    - density: the classic range, divided by how much more area each streak covers, so a
      near layer has few streaks;
    - profile: "box" (plateau with soft ends of ramp = 2 px or up to a third of the length,
      motion blur of a drop of that size) or "cos" (brightest in the middle).

    With 2-3 layers, 40% get a veil: out = img (1 - v) + v A before the streaks, v in
    [0.03, 0.15], A grey in [0.7, 0.95] (rain accumulation, the mist of heavy rain).
    """
    if rng.random() < RAIN_CLASSIC_SHARE:
        return {"layers": [sample_rain_params(rng)], "veil": 0.0, "veil_A": 0.0}
    n = int(rng.choice(3, p=RAIN_LAYERS_P)) + 1
    near = np.sort(rng.uniform(0.0, 1.0, n))
    wind = float(rng.uniform(-30.0, 30.0))
    layers = []
    for u in near:
        length = float(min(100.0, math.exp(rng.uniform(math.log(10.0), math.log(25.0))) * (1.0 + 4.0 * u * rng.uniform(0.5, 1.0))))
        thick = float(1.0 + 3.0 * u * rng.uniform(0.3, 1.0))
        width = float(rng.uniform(0.35, 0.75) + u * rng.uniform(0.0, 1.5))
        intensity = float(rng.uniform(0.5, 0.9) * (1.0 - 0.7 * u * rng.uniform(0.4, 1.0)))
        base = math.exp(rng.uniform(math.log(6e-4), math.log(2.2e-3)))
        # Same streak count per area as classic rain when short and thin; fewer as each
        # streak covers more (length x width), but never fewer than a sparse sprinkle.
        density = float(base / math.sqrt((length / 25.0) * thick) if length > 25.0 else base)
        profile = "cos" if rng.random() < 0.3 else "box"
        ramp = float(2.0 if rng.random() < 0.5 else max(2.0, length * rng.uniform(0.05, 0.33)))
        layers.append(dict(angle=float(np.clip(wind + rng.normal(0.0, 3.0), -36.0, 36.0)), density=density,
                           length=length, width=width, intensity=intensity, thick=thick, ramp=ramp,
                           profile=profile))
    veil = float(rng.uniform(0.03, 0.15)) if n >= 2 and rng.random() < RAIN_VEIL_SHARE else 0.0
    return {"layers": layers, "veil": veil, "veil_A": float(rng.uniform(0.7, 0.95)) if veil else 0.0}


@_accept_torch
def add_rain(img: np.ndarray, rng: np.random.Generator, params: dict | None = None) -> np.ndarray:
    """Screen-blend a rain layer: out = 1 - (1 - img)(1 - r); bright streaks saturate.

    params from sample_rain_params (one layer, the classic look; drawn when None) or from
    sample_rain_layers ({"layers": [...], "veil", "veil_A"}): the veil first, then each
    layer screen-blended in turn (screen blending commutes, so the order does not matter).
    """
    if params is not None and "layers" in params:
        out = img
        if params.get("veil", 0.0) > 0:
            v = np.float32(params["veil"])
            out = out * (1.0 - v) + v * np.float32(params["veil_A"])
        for lp in params["layers"]:
            r = rain_layer(img.shape[0], img.shape[1], rng, lp)[..., None]
            out = 1.0 - (1.0 - out) * (1.0 - r)
        return out.astype(np.float32, copy=False)
    r = rain_layer(img.shape[0], img.shape[1], rng, params)[..., None]
    return 1.0 - (1.0 - img) * (1.0 - r)


# ------------------------------------------------------------------------ haze


def sample_haze_params(rng: np.random.Generator) -> dict:
    a = rng.uniform(0.7, 1.0)
    tint = rng.normal(0.0, 0.015, 3) + np.array([-0.01, 0.0, 0.01]) * rng.uniform(0, 2)  # slightly blue-ish at most
    return dict(
        beta=float(rng.uniform(0.4, 1.35)),
        A=[float(v) for v in np.clip(a * (1.0 + tint), 0.0, 1.0)],
        base=float(rng.uniform(0.35, 0.75)),  # depth at mid-height
        ramp=float(rng.uniform(0.1, 0.6)),  # depth gained from bottom to top of the frame
        noise=float(rng.uniform(0.03, 0.15)),  # low-frequency depth variation
        grid=int(rng.integers(2, 6)),  # its cells across the frame
        lum=float(rng.uniform(0.0, 0.3)),  # bright (sky-like) regions farther away
        seed=int(rng.integers(2**31)),
    )


def haze_depth(img: np.ndarray, p: dict, frame: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Smooth depth in [0, 1] for `img`, a crop at (y0, x0) of a full frame of H x W.

    d = base + ramp * (0.5 - y/H) + noise * lowfreq(y, x) + lum * (blurred luminance - mean),
    clipped to [0, 1]. Defined in frame coordinates, so a crop gets the depth of its place.
    """
    h, w = img.shape[:2]
    y0, x0, H, W = frame if frame is not None else (0, 0, h, w)
    ys = (y0 + np.arange(h, dtype=np.float32) + 0.5) / H
    xs = (x0 + np.arange(w, dtype=np.float32) + 0.5) / W
    d = p["base"] + p["ramp"] * (0.5 - ys)[:, None] + np.zeros((1, w), np.float32)
    g = p["grid"]
    field = np.random.default_rng(p["seed"]).standard_normal((g + 1, g + 1)).astype(np.float32)
    gy, gx = np.meshgrid(ys * g, xs * g, indexing="ij")
    d += p["noise"] * ndimage.map_coordinates(field, [gy, gx], order=3, mode="nearest")
    if p["lum"] > 0:
        lum = img @ np.array([0.299, 0.587, 0.114], np.float32)
        s = 0.01 * max(H, W)
        lum = ndimage.gaussian_filter(lum, s, truncate=2.0)
        d += p["lum"] * (lum - lum.mean())
    return np.clip(d, 0.0, 1.0).astype(np.float32)


@_accept_torch
def add_haze(img: np.ndarray, rng: np.random.Generator, params: dict | None = None,
             frame: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Atmospheric scattering I = J t + A (1 - t), t = exp(-beta d)."""
    p = params or sample_haze_params(rng)
    t = np.exp(-p["beta"] * haze_depth(img, p, frame))[..., None]
    A = np.asarray(p["A"], np.float32)
    return (img * t + A * (1.0 - t)).astype(np.float32)


# ------------------------------------------------------------------------ hard negatives

# Content that the Prompt Net took for a degradation on real photos (docs/degradations.md,
# "Hard negatives"): smooth bright skies and low-contrast scenes read as haze, long bright
# lines as rain. A hard negative is drawn into the CLEAN image, so it is content: the
# target keeps it and the labels say only what is added afterwards.
HARD_NEGATIVES = ("sky", "lowcontrast", "lines", "texture")
HARD_NEGATIVE_P = (0.4, 0.25, 0.2, 0.15)


def _smooth_field(h: int, w: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """A bicubic random field of about `cells` cells across, zero mean, unit-ish amplitude."""
    g = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    gy, gx = np.meshgrid(np.linspace(0, cells, h, dtype=np.float32), np.linspace(0, cells, w, dtype=np.float32),
                         indexing="ij")
    return ndimage.map_coordinates(g, [gy, gx], order=3, mode="nearest")


def add_sky(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A clear or overcast sky above a horizon: a smooth vertical gradient (zenith colour to
    a lighter horizon), faint low-frequency clouds, and the content below a slightly tilted,
    wavy horizon line, with a soft edge. 10% of the draws are sky from top to bottom."""
    h, w = img.shape[:2]
    if rng.random() < 0.5:  # blue sky
        zenith = np.array([rng.uniform(0.25, 0.6), rng.uniform(0.45, 0.75), rng.uniform(0.7, 0.98)], np.float32)
    else:  # overcast, near grey
        zenith = np.float32(rng.uniform(0.55, 0.95)) * (1.0 + rng.normal(0.0, 0.02, 3)).astype(np.float32)
    horizon = zenith + (1.0 - zenith) * np.float32(rng.uniform(0.1, 0.7))
    level = 1.0 if rng.random() < 0.1 else rng.uniform(0.15, 0.85)  # horizon, share of the height
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h
    grad = (ys / max(level, 1e-3)).clip(0, 1) ** np.float32(rng.uniform(0.7, 2.0))
    sky = zenith + (horizon - zenith) * grad[:, None, None]
    sky = sky + np.float32(rng.uniform(0.0, 0.08)) * _smooth_field(h, w, int(rng.integers(2, 7)), rng)[..., None]
    sky = np.clip(sky, 0.0, 1.0) * np.ones((1, w, 1), np.float32)
    if level >= 1.0:
        return sky.astype(np.float32)
    xs = np.arange(w, dtype=np.float32)
    line = level * h + np.tan(np.deg2rad(rng.uniform(-6, 6))) * (xs - w / 2)
    line = line + np.float32(rng.uniform(0.0, 0.04) * h) * _smooth_field(1, w, int(rng.integers(3, 12)), rng)[0]
    soft = np.float32(rng.uniform(0.5, 2.5))
    mask = np.clip((line[None, :] - np.arange(h, dtype=np.float32)[:, None]) / soft + 0.5, 0.0, 1.0)[..., None]
    return (img * (1.0 - mask) + sky * mask).astype(np.float32)


def add_low_contrast(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A flat, low-contrast scene (overcast light, a dull print): contrast scaled by 0.55-0.9
    around a level at or below the crop's mean, so it never brightens towards an airlight."""
    c = np.float32(rng.uniform(0.55, 0.9))
    m = img.reshape(-1, 3).mean(0) * np.float32(rng.uniform(0.8, 1.0))
    return np.clip(m + c * (img - m), 0.0, 1.0).astype(np.float32)


def add_lines(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Long straight structures that are not rain: a wire mesh or fence (two families of
    parallel lines, 4-14 px apart) or 1-5 cables and poles running across the whole crop,
    1-3 px wide, bright or dark, at any angle."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    cover = np.zeros((h, w), np.float32)
    if rng.random() < 0.4:  # mesh
        base = rng.uniform(0, 180)
        pitch, width = rng.uniform(4.0, 14.0), rng.uniform(0.8, 2.0)
        for ang in (base, base + rng.uniform(60, 120)):
            a = np.deg2rad(ang)
            d = (xx * np.cos(a) + yy * np.sin(a) + rng.uniform(0, pitch)) % pitch
            d = np.minimum(d, pitch - d)
            cover = np.maximum(cover, np.clip(width / 2 + 0.5 - d, 0.0, 1.0))
    else:  # cables and poles
        for _ in range(int(rng.integers(1, 6))):
            a = np.deg2rad(rng.uniform(0, 180))
            c = rng.uniform(0.2, 0.8) * np.array([w, h])
            d = np.abs((xx - c[0]) * np.sin(a) - (yy - c[1]) * np.cos(a))
            cover = np.maximum(cover, np.clip(rng.uniform(1.0, 3.0) / 2 + 0.5 - d, 0.0, 1.0))
    tone = np.float32(rng.uniform(0.75, 1.0) if rng.random() < 0.6 else rng.uniform(0.0, 0.25))
    op = np.float32(rng.uniform(0.4, 0.95))
    a = (cover * op)[..., None]
    return (img * (1.0 - a) + tone * a).astype(np.float32)


def add_texture(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fine natural texture (gravel, foliage, fabric): band-limited luminance variation,
    the same on all three channels, so it is structure and not per-channel sensor noise."""
    h, w = img.shape[:2]
    t = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), rng.uniform(1.0, 2.0))
    t /= max(float(t.std()), 1e-6)
    region = np.clip(0.5 + 1.5 * _smooth_field(h, w, int(rng.integers(1, 4)), rng), 0.0, 1.0)
    amp = np.float32(rng.uniform(0.04, 0.15))
    return np.clip(img * (1.0 + amp * (t * region)[..., None]), 0.0, 1.0).astype(np.float32)


_HARD_FNS = {"sky": add_sky, "lowcontrast": add_low_contrast, "lines": add_lines, "texture": add_texture}


def add_hard_negative(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[str, ...]]:
    """One (70%) or two (30%) different hard negatives drawn into img; returns the image and
    their names (HARD_NEGATIVES)."""
    n = 1 if rng.random() < 0.7 else 2
    names = tuple(HARD_NEGATIVES[i] for i in rng.choice(len(HARD_NEGATIVES), n, replace=False, p=HARD_NEGATIVE_P))
    out = np.asarray(img, np.float32)
    for name in names:
        out = _HARD_FNS[name](out, rng)
    return out, names


# ------------------------------------------------------------------------ mixtures


_PAIRS = (("noise", "rain"), ("noise", "haze"), ("rain", "haze"))


class Mix(NamedTuple):
    """What a training sample holds: the shares of clean, one-type, two-type and three-type
    samples (they must add up to 1), and each type's relative weight among the one-type
    samples. The defaults are the recipe's: 10% clean, 60% one type (20% each), 25% two,
    5% all three."""

    clean: float = 0.10
    single: float = 0.60
    pair: float = 0.25
    triple: float = 0.05
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # Share of rain-free samples whose CLEAN image gets rain-like streaks as content
    # ("decoys", see add_decoy): the target keeps them and the rain label stays 0.
    decoy: float = 0.0
    # Share of rain draws that use the layered real-rain synthesis (sample_rain_layers)
    # instead of the single Rain100L-like layer.
    layered: float = 0.0
    # Share of samples whose CLEAN image gets a hard negative (add_hard_negative): content
    # that looks like haze or rain, labelled with only what is added afterwards.
    hardneg: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "Mix":
        """'clean=0.2,single=0.6,pair=0.15,triple=0.05,rain=2,decoy=0.2,layered=0.7,hardneg=0.2'
        (unnamed fields keep their default)."""
        fields, weights = {}, dict(zip(DEGRADATIONS, cls().weights))
        for item in filter(None, (t.strip() for t in text.split(","))):
            key, _, value = item.partition("=")
            if key in (*cls._fields[:4], *SHARES):
                fields[key] = float(value)
            elif key in weights:
                weights[key] = float(value)
            else:
                raise ValueError(f"mix: unknown key {key!r} (clean, single, pair, triple, {', '.join(SHARES)}, "
                                 f"{', '.join(DEGRADATIONS)})")
        mix = cls(**fields, weights=tuple(weights[k] for k in DEGRADATIONS))
        total = mix.clean + mix.single + mix.pair + mix.triple
        if abs(total - 1.0) > 1e-6 or min(mix[:4]) < 0 or min(mix.weights) < 0 or sum(mix.weights) <= 0:
            raise ValueError(f"mix: shares must be >= 0 and add up to 1 (got {total:.3f}), weights >= 0")
        for key in SHARES:
            if not 0.0 <= getattr(mix, key) <= 1.0:
                raise ValueError(f"mix: {key} is a share in [0, 1] (got {getattr(mix, key)})")
        return mix


SHARES = ("decoy", "layered", "hardneg")  # the Mix fields that are shares of samples


DEFAULT_MIX = Mix()


def sample_kinds(rng: np.random.Generator, mix: Mix = DEFAULT_MIX) -> tuple[str, ...]:
    """Draw the degradation types of one sample (see Mix)."""
    u = rng.random()
    if u < mix.clean:
        return ()
    if u < mix.clean + mix.single:
        if mix.weights[0] == mix.weights[1] == mix.weights[2]:
            return (DEGRADATIONS[rng.integers(3)],)  # the same draws as before Mix existed
        w = np.asarray(mix.weights, np.float64)
        return (DEGRADATIONS[rng.choice(3, p=w / w.sum())],)
    if u < mix.clean + mix.single + mix.pair:
        return _PAIRS[rng.integers(3)]
    return DEGRADATIONS


def labels_of(kinds) -> np.ndarray:
    return np.array([1.0 if k in kinds else 0.0 for k in DEGRADATIONS], np.float32)


def degrade(img: np.ndarray, kinds, rng: np.random.Generator, frame=None, params: dict | None = None):
    """Apply `kinds` in the physical order haze, rain, noise. Returns (degraded, labels).

    params may fix per-type parameters: {"haze": {...}, "rain": {...}, "sigma": 25, "quantize": True}.
    """
    unknown = set(kinds) - set(DEGRADATIONS)
    if unknown:
        raise ValueError(f"unknown degradation(s) {sorted(unknown)}")
    params = params or {}
    out = img
    if "haze" in kinds:
        out = add_haze(out, rng, params.get("haze"), frame)
    if "rain" in kinds:
        out = add_rain(out, rng, params.get("rain"))
    if "noise" in kinds:
        sigma = params.get("sigma")
        sigma = sample_sigma(rng) if sigma is None else sigma
        quantize = params.get("quantize")
        quantize = bool(rng.random() < 0.85) if quantize is None else quantize
        out = add_noise(out, sigma, rng, quantize)
    if isinstance(out, np.ndarray):
        out = out.astype(np.float32, copy=False)
    return out, labels_of(kinds)


# ------------------------------------------------------------------------ patches


def _dihedral(img: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations (views, no copy): rot90 by k % 4, transposed if k >= 4."""
    out = np.rot90(img, k % 4)
    return out.transpose(1, 0, 2) if k >= 4 else out


def add_decoy(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rain-like streaks as image CONTENT: the rain synthesis, in any of the 4 axis-aligned
    directions (near vertical or near horizontal, either way up).

    Wire mesh, cables, grass and railings look like rain streaks to a network that has
    only seen streaks as something to remove: the shipped 63,686 restorer erased the wire
    mesh of McMaster image 12 from the clean photo (31.7 dB) whatever the Prompt Net said.
    A decoy's target keeps its streaks and its rain label is 0, so only the rain
    probability tells the restorer whether streaks are rain (train.py gives the restorer
    rain = 0 for these samples, since the Prompt Net cannot tell synthetic decoys from rain).
    """
    k = int(rng.integers(4))
    return np.rot90(add_rain(np.rot90(img, k), rng), -k)


def random_patch(images: Sequence[np.ndarray], patch: int, rng: np.random.Generator,
                 probs: np.ndarray | None = None, kinds=None, mix: Mix = DEFAULT_MIX):
    """One training sample: (degraded, clean, labels, decoy), float32 HxWx3 numpy, the
    labels float32 (3,), decoy a bool (the clean image holds streaks, see add_decoy).

    The flip/rotation is applied to the clean image BEFORE degrading, so the content is
    augmented with all 8 dihedral transforms while rain stays near vertical and haze
    stays denser toward the top of the (transformed) frame, as in real photos.
    """
    i = rng.choice(len(images), p=probs) if probs is not None else rng.integers(len(images))
    src = _dihedral(images[i], int(rng.integers(8)))
    H, W = src.shape[:2]
    if H < patch or W < patch:
        py, px = max(0, patch - H), max(0, patch - W)
        src = np.pad(src, ((py // 2, py - py // 2), (px // 2, px - px // 2), (0, 0)), mode="reflect")
        H, W = src.shape[:2]
    y0 = int(rng.integers(H - patch + 1))
    x0 = int(rng.integers(W - patch + 1))
    clean = to_float(src[y0:y0 + patch, x0:x0 + patch])
    kinds = sample_kinds(rng, mix) if kinds is None else kinds
    # Each option draws only when it is on, so runs without it keep their exact draws.
    decoy = mix.decoy > 0 and "rain" not in kinds and bool(rng.random() < mix.decoy)
    if decoy:
        clean = np.ascontiguousarray(add_decoy(clean, rng), dtype=np.float32)
    if mix.hardneg > 0 and rng.random() < mix.hardneg:
        clean = np.ascontiguousarray(add_hard_negative(clean, rng)[0], dtype=np.float32)
    params = None
    if mix.layered > 0 and "rain" in kinds and rng.random() < mix.layered:
        params = {"rain": sample_rain_layers(rng)}
    degraded, labels = degrade(clean, kinds, rng, frame=(y0, x0, H, W), params=params)
    return degraded, clean, labels, decoy


def area_probs(images: Sequence[np.ndarray]) -> np.ndarray:
    """Pick images in proportion to their pixel count (every pixel equally likely)."""
    a = np.array([im.shape[0] * im.shape[1] for im in images], np.float64)
    return a / a.sum()


def _stack(samples):
    deg = torch.from_numpy(np.stack([s[0] for s in samples]).transpose(0, 3, 1, 2).copy())
    clean = torch.from_numpy(np.stack([s[1] for s in samples]).transpose(0, 3, 1, 2).copy())
    labels = torch.from_numpy(np.stack([s[2] for s in samples]))
    decoy = torch.tensor([s[3] for s in samples], dtype=torch.bool)
    return deg, clean, labels, decoy


def batches(images: Sequence[np.ndarray], batch: int = 4, patch: int = 128,
            rng: np.random.Generator | None = None, by_area: bool = True,
            mix: Mix = DEFAULT_MIX) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless (degraded, clean, labels, decoy) batches: NCHW float32 in [0, 1], labels
    N x 3, decoy N bools (random_patch)."""
    rng = rng if rng is not None else np.random.default_rng()
    probs = area_probs(images) if by_area else None
    while True:
        yield _stack([random_patch(images, patch, rng, probs, mix=mix) for _ in range(batch)])


class TrainPatches(torch.utils.data.IterableDataset):
    """Endless single samples (degraded 3xPxP, clean 3xPxP, labels 3) for a DataLoader.

    Each DataLoader worker gets its own generator from (seed, worker id); use with
    DataLoader(ds, batch_size=..., num_workers=...).
    """

    def __init__(self, images: Sequence[np.ndarray], patch: int = 128, seed: int = 0, by_area: bool = True):
        self.images, self.patch, self.seed = images, patch, seed
        self.probs = area_probs(images) if by_area else None

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        rng = np.random.default_rng([self.seed, wid])
        while True:
            d, c, l, _ = random_patch(self.images, self.patch, rng, self.probs)
            yield (torch.from_numpy(np.ascontiguousarray(d.transpose(2, 0, 1))),
                   torch.from_numpy(np.ascontiguousarray(c.transpose(2, 0, 1))),
                   torch.from_numpy(l))


class TrainBatches(torch.utils.data.IterableDataset):
    """Endless whole batches, as `batches` makes them, for a DataLoader with
    batch_size=None: each worker synthesizes its own batches, so degradation synthesis
    (single-threaded numpy, ~0.1 s per 4x128x128 batch) keeps up with a GPU step.

    Worker w draws from np.random.default_rng([*seed, w]); `seed` is a sequence of ints
    (train.py passes seed, rank and start iteration, so a resume draws new samples).
    """

    def __init__(self, images: Sequence[np.ndarray], batch: int, patch: int, seed: Sequence[int],
                 mix: Mix = DEFAULT_MIX, by_area: bool = True):
        self.images, self.batch, self.patch, self.seed = images, batch, patch, list(seed)
        self.mix, self.by_area = mix, by_area

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        rng = np.random.default_rng([*self.seed, wid])
        return batches(self.images, self.batch, self.patch, rng, self.by_area, self.mix)


# ------------------------------------------------------------------------ validation sets


class ValItem(NamedTuple):
    name: str
    input: np.ndarray  # uint8 HxWx3
    target: np.ndarray  # uint8 HxWx3
    labels: np.ndarray  # float32 (noise, rain, haze)


def load_valset(folder: Path) -> list[ValItem]:
    """Read one set written by training/make_valsets.py (<set>/{input,target}/NAME.png, labels.json)."""
    folder = Path(folder)
    meta = json.loads((folder / "labels.json").read_text())
    return [ValItem(it["name"], read_rgb(folder / "input" / f"{it['name']}.png"),
                    read_rgb(folder / "target" / f"{it['name']}.png"),
                    np.asarray(it["labels"], np.float32)) for it in meta["items"]]


def to_tensor(img_u8: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> 1x3xHxW float32 in [0, 1]."""
    return torch.from_numpy(to_float(img_u8).transpose(2, 0, 1).copy())[None]


# ------------------------------------------------------------------------ metrics


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two [0, 1] float (or uint8) images, after rounding to 8 bits."""
    a8 = a if a.dtype == np.uint8 else to_uint8(a)
    b8 = b if b.dtype == np.uint8 else to_uint8(b)
    mse = np.mean((a8.astype(np.float64) - b8.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
