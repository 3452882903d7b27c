"""training/rain_render.py: the independent rain renderer behind the rain_indep validation set."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from training import data as D
from training import rain_render as R
from training.tests.test_data import natural_like, orientation


def test_seeded_and_in_range():
    img = natural_like(120, 160)
    p = R.render_params(np.random.default_rng(1), 120, 160)
    a = R.render_rain(img, np.random.default_rng(2), p)
    b = R.render_rain(img, np.random.default_rng(2), p)
    assert np.array_equal(a, b) and a.dtype == np.float32 and a.shape == img.shape
    assert a.min() >= 0 and a.max() <= 1 and not np.array_equal(a, img)
    c = R.render_rain(img, np.random.default_rng(2), R.render_params(np.random.default_rng(1), 120, 160))
    assert np.array_equal(a, c)


def test_wind_sets_the_direction_and_coverage_the_amount():
    dark = np.full((256, 256, 3), 0.1, np.float32)
    rng = np.random.default_rng(0)
    p = R.render_params(rng, 256, 256)
    p.update(mist=0.0, turbulence=0.05, coverage=0.1)
    for wind in (0.0, 3.0, -3.0):
        q = dict(p, wind=wind)
        layer = R.render_rain(dark, np.random.default_rng(3), q)[..., 0] - 0.1
        est, coh = orientation(layer)  # degrees from vertical, + when falling to the right
        drops = R._drops(np.random.default_rng(3), q, 256, 256)
        expect = float(np.degrees(np.median(np.arctan2(drops["dx"], drops["dy"]))))
        # Small drops fall slower and lean more; the bright large ones dominate the estimate.
        assert abs(est - expect) < (3.0 if wind == 0 else 10.0), (wind, est, expect)
        assert wind == 0 or np.sign(est) == np.sign(wind)
        assert coh > 0.4
    ps = [D.psnr(R.render_rain(natural_like(), np.random.default_rng(4), dict(p, coverage=c)), natural_like())
          for c in (0.03, 0.1, 0.3)]
    assert ps[0] > ps[1] > ps[2]


def test_near_drops_are_long_wide_and_soft_far_drops_short_and_thin():
    p = R.render_params(np.random.default_rng(5), 512, 768)
    p.update(z_focus=12.0, coverage=0.3)
    d = R._drops(np.random.default_rng(6), p, 512, 768)
    near, far = d["z"] < np.percentile(d["z"], 20), d["z"] > np.percentile(d["z"], 80)
    assert np.median(d["length"][near]) > 2 * np.median(d["length"][far])
    assert np.median(d["width"][near]) >= np.median(d["width"][far])
    assert np.median(d["blur"][near]) > np.median(d["blur"][far])
    assert np.all(np.diff(d["z"]) <= 0)  # drawn far to near
    assert d["width"].min() >= 0.8 and d["width"].max() <= 4.5


def test_composites_towards_the_drop_radiance_not_a_screen_blend():
    """A drop over a background brighter than itself darkens it (alpha compositing); the
    training synthesis screen-blends and can only brighten."""
    white = np.full((128, 128, 3), 0.98, np.float32)
    p = R.render_params(np.random.default_rng(7), 128, 128)
    p.update(sky=0.75, sky_share=1.0, mist=0.0, coverage=0.2)
    out = R.render_rain(white, np.random.default_rng(8), p)
    assert out.min() < 0.95


def test_written_independently_of_the_training_synthesis():
    """No import of training/data.py: the set must measure rain the training generator did
    not make."""
    tree = ast.parse(Path(R.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {node.module or ""} | {a.name for a in node.names}
    assert not any("data" in name or "training" in name for name in imported), imported


@pytest.mark.skipif(not (D.DATA_ROOT / "val" / "kodak24").is_dir(), reason="shared data not available")
def test_rainy_psnr_is_in_the_range_of_the_public_sets():
    rng = np.random.default_rng(0)
    ps = []
    for path in D.list_images(D.DATA_ROOT / "val" / "kodak24")[::4]:
        clean = D.to_float(D.read_rgb(path))
        ps.append(D.psnr(R.render_rain(clean, rng), clean))
    print(f"independent rain: {np.mean(ps):.2f} dB mean, {min(ps):.1f}-{max(ps):.1f}")
    assert 22 < np.mean(ps) < 30 and min(ps) > 16 and max(ps) < 38


def test_its_rain_is_not_the_training_synthesis():
    """Over a bright surface the training synthesis (classic and layered, screen-blended)
    only ever brightens, apart from the veil of heavy rain; the renderer composites drops
    towards their radiance, so it also darkens, and its images are not any draw of
    data.add_rain."""
    bright = np.full((96, 128, 3), 0.9, np.float32)
    rng = np.random.default_rng(12)
    for _ in range(20):
        for params in (D.sample_rain_params(rng), dict(D.sample_rain_layers(rng), veil=0.0)):
            out = D.add_rain(bright, rng, params)
            assert out.min() >= 0.9 - 1e-6
    p = R.render_params(np.random.default_rng(13), 96, 128)
    p.update(sky=0.75, sky_share=1.0, mist=0.0, coverage=0.2)
    out = R.render_rain(bright, np.random.default_rng(14), p)
    assert (out < 0.89).mean() > 0.005
    # The same seeds through both: different images.
    img = natural_like(96, 128)
    a = R.render_rain(img, np.random.default_rng(15))
    b = D.add_rain(img, np.random.default_rng(15))
    assert np.abs(a - b).mean() > 1e-3
