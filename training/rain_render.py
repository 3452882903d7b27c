"""An independent rain renderer, used only to build the `rain_indep` validation set.

Why a second renderer: a restorer trained on data.py's streaks and validated on data.py's
streaks is measured on what it memorised, not on how it handles rain it has never seen.
This module shares no code and no streak model with data.py's training synthesis, so a
gain on its set is a gain in transfer. It must never be used to make training data.

The model is physical rather than a drawn streak layer (Garg and Nayar, "Photorealistic
rendering of rain streaks", SIGGRAPH 2006, in simplified form):

- Drops fill the volume in front of the camera: depth z in [z_min, z_max] metres with
  density proportional to z^2 (uniform in the viewing frustum), diameters from an
  exponential (Marshall-Palmer) distribution, falling at their terminal speed
  v(D) = 9.65 - 10.3 exp(-0.6 D) m/s (Atlas et al. 1973) plus the wind.
- Each drop is motion-blurred along its fall during the exposure: its image is a segment
  of length f |velocity| T / z pixels and width f D / z, defocused by a Gaussian that
  grows with |1/z - 1/z_focus| (thin-lens blur), so near drops are long, wide and soft,
  far drops short, thin and sharp, all in one image, with a continuum of depths instead
  of discrete layers.
- Photometry: a drop refracts a wide cone of the environment and is brighter than what it
  covers; a pixel crossed by a drop for a share alpha of the exposure records
  (1 - alpha) B + alpha E (alpha compositing towards the drop's radiance E, drawn far to
  near), not a screen blend. alpha falls off with depth (atmospheric attenuation
  exp(-z / z_vis)) and varies along the streak (the drop leaves or enters the lit region:
  a linear ramp of brightness from one end to the other).
- The cross profile is the analytic coverage of a box (the drop's width) blurred by a
  Gaussian, integrated with erf, per pixel and per drop, rather than splatted points.
- Heavy rain adds mist: the drops too far to resolve scatter light as a uniform veil
  towards E.

Every random choice comes from the `np.random.Generator` passed in.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

SQRT2 = math.sqrt(2.0)


def render_params(rng: np.random.Generator, h: int, w: int) -> dict:
    """The scene and camera of one rainy image (sizes in pixels at the image's resolution)."""
    f = float(w * rng.uniform(0.8, 1.5))  # focal length in pixels
    return dict(
        focal=f,
        exposure=float(math.exp(rng.uniform(math.log(1 / 40), math.log(1 / 10)))),  # seconds
        z_focus=float(rng.uniform(2.0, 12.0)),  # metres
        aperture=float(rng.uniform(0.002, 0.012)),  # lens aperture radius, metres
        z_min=float(rng.uniform(1.0, 2.0)),
        z_max=float(rng.uniform(6.0, 12.0)),
        z_vis=float(rng.uniform(8.0, 30.0)),  # attenuation length of the drops' contrast
        wind=float(rng.normal(0.0, 1.5)),  # m/s across the image, + to the right
        turbulence=float(rng.uniform(0.05, 0.4)),  # per-drop wind spread, m/s
        drop_scale=float(rng.uniform(1.5, 3.0)),  # Marshall-Palmer slope, 1/mm
        gain=float(rng.uniform(0.55, 1.1)),  # how much brighter than physics: sets visibility
        glow=float(rng.uniform(3.0, 10.0)),  # apparent width over the drop's geometric width
        sky=float(rng.uniform(0.75, 1.0)),  # brightness of the sky the drops refract
        sky_share=float(rng.uniform(0.4, 0.8)),
        env_boost=float(rng.uniform(1.05, 1.4)),
        # The rain's amount: the drops' summed alpha x footprint over the image area. The
        # drop count follows from it, so the shapes come from the physics and the visibility
        # from this range (rainy-vs-clean PSNR of about 20-33 dB, as the public sets).
        coverage=float(math.exp(rng.uniform(math.log(0.05), math.log(0.3)))),
        mist=float(rng.uniform(0.0, 0.06)) if rng.random() < 0.4 else 0.0,
    )


def _drops(rng: np.random.Generator, p: dict, h: int, w: int) -> dict:
    n = int(40000 * max(h * w, 1e5) / 1e6) + 1  # candidates; the first ones needed are kept
    z0, z1 = p["z_min"], p["z_max"]
    z = (rng.uniform(0.0, 1.0, n) * (z1**3 - z0**3) + z0**3) ** (1.0 / 3.0)
    d_mm = np.clip(0.5 + rng.exponential(1.0 / p["drop_scale"], n), 0.5, 5.0)
    v = 9.65 - 10.3 * np.exp(-0.6 * d_mm)
    u = p["wind"] + rng.normal(0.0, p["turbulence"], n)
    f, T = p["focal"], p["exposure"]
    dy, dx = f * v * T / z, f * u * T / z  # displacement over the exposure, px
    length = np.hypot(dy, dx)
    width = np.clip(p["glow"] * f * d_mm * 1e-3 / z, 0.8, 4.5)
    blur = np.hypot(f * p["aperture"] * np.abs(1.0 / z - 1.0 / p["z_focus"]) * 0.5, 0.3)
    # Visibility: physical alpha is D / (v T), a few percent; `gain` scales it to the
    # range of the public synthetic sets, larger drops brighter, far drops attenuated.
    alpha = np.clip(p["gain"] * np.sqrt(d_mm / 2.0) * rng.uniform(0.7, 1.0, n) * np.exp(-z / p["z_vis"]), 0.0, 0.95)
    ramp = rng.uniform(-0.5, 0.5, n)  # brightness change from start to end of the streak
    tone = rng.uniform(0.95, 1.05, n)
    # Start points: anywhere the streak can still touch the image.
    y0 = rng.uniform(-dy - 8, h + 8)
    x0 = rng.uniform(-np.abs(dx) - 8, w + np.abs(dx) + 8)
    footprint = alpha * (length + width) * (width + 2.0 * blur)
    keep = int(np.clip(np.searchsorted(np.cumsum(footprint), p["coverage"] * h * w) + 1, 1, n))
    order = np.argsort(-z[:keep], kind="stable")  # far first: near drops are composited over them
    return {k: a[:keep][order] for k, a in dict(z=z, y0=y0, x0=x0, dy=dy, dx=dx, length=length, width=width,
                                                blur=blur, alpha=alpha, ramp=ramp, tone=tone).items()}


def render_rain(img: np.ndarray, rng: np.random.Generator, params: dict | None = None) -> np.ndarray:
    """Rainy version of img (float32 HxWx3 in [0, 1]); params from render_params (drawn when None)."""
    img = np.asarray(img, np.float32)
    h, w = img.shape[:2]
    p = params or render_params(rng, h, w)
    # The drops' radiance: a drop refracts a cone of about 165 degrees, most of it the sky
    # (a bright near-grey) and the rest the scene's upper half, brighter than what it covers.
    env = img[: max(1, h // 2)].reshape(-1, 3).mean(0) * p["env_boost"]
    E = np.clip(p["sky_share"] * p["sky"] + (1.0 - p["sky_share"]) * env, 0.0, 1.0).astype(np.float64)
    out = img.astype(np.float64)
    if p["mist"] > 0:
        out = out * (1.0 - p["mist"]) + p["mist"] * E
    dr = _drops(rng, p, h, w)
    for i in range(len(dr["z"])):
        a = dr["alpha"][i]
        L = dr["length"][i]
        if a < 0.01 or L < 0.5:
            continue
        ey, ex = dr["dy"][i] / L, dr["dx"][i] / L  # unit vector along the fall
        half = 0.5 * dr["width"][i]
        s_cross = dr["blur"][i]
        s_along = max(half, s_cross)
        reach = half + 3.0 * s_cross + 1.0
        ya, xa = dr["y0"][i], dr["x0"][i]
        yb, xb = ya + dr["dy"][i], xa + dr["dx"][i]
        r0, r1 = int(math.floor(min(ya, yb) - reach)), int(math.ceil(max(ya, yb) + reach)) + 1
        c0, c1 = int(math.floor(min(xa, xb) - reach)), int(math.ceil(max(xa, xb) + reach)) + 1
        r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h), min(c1, w)
        if r0 >= r1 or c0 >= c1:
            continue
        py = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5 - ya
        px = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5 - xa
        s = py * ey + px * ex  # along the streak from its start
        d = px * ey - py * ex  # across it
        cross = 0.5 * (erf((d + half) / (SQRT2 * s_cross)) - erf((d - half) / (SQRT2 * s_cross)))
        along = 0.5 * (erf(s / (SQRT2 * s_along)) - erf((s - L) / (SQRT2 * s_along)))
        falloff = 1.0 + dr["ramp"][i] * (np.clip(s / L, 0.0, 1.0) - 0.5) * 2.0
        al = np.minimum(a * cross * along * falloff, 0.98)[..., None]
        if al.max() < 1e-3:
            continue
        patch = out[r0:r1, c0:c1]
        out[r0:r1, c0:c1] = patch * (1.0 - al) + al * np.clip(E * dr["tone"][i], 0.0, 1.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
