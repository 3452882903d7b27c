"""Tests of training/data.py and training/make_valsets.py (CPU, a few seconds)."""

from __future__ import annotations

import filecmp
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from training import data as D
from training import make_valsets as MV


def natural_like(h=256, w=384, seed=0) -> np.ndarray:
    """A smooth-plus-texture colour test image in [0, 1] (no data files needed)."""
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.random((h, w, 3)), (12, 12, 0))
    base = (base - base.min()) / (base.max() - base.min())
    tex = ndimage.gaussian_filter(rng.random((h, w, 3)), (1, 1, 0))
    img = 0.15 + 0.6 * base + 0.25 * (tex - tex.mean()) / tex.std() * 0.2
    return np.clip(img, 0, 1).astype(np.float32)


# ------------------------------------------------------------------ loading


def test_load_images_converts_to_rgb_uint8(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(np.full((20, 30), 77, np.uint8), "L").save(tmp_path / "a" / "grey.png")
    Image.fromarray(np.zeros((16, 18, 3), np.uint8)).save(tmp_path / "a" / "rgb.jpg")
    Image.fromarray(np.zeros((10, 12, 4), np.uint8), "RGBA").save(tmp_path / "b" / "alpha.png")
    (tmp_path / "b" / "notes.txt").write_text("not an image")
    imgs = D.load_images(tmp_path, ["a", "b"])
    assert [im.shape for im in imgs] == [(20, 30, 3), (16, 18, 3), (10, 12, 3)]
    assert all(im.dtype == np.uint8 for im in imgs)
    assert (imgs[0] == 77).all()


# ------------------------------------------------------------------ noise


def test_noise_std_matches_sigma():
    img = np.full((256, 256, 3), 0.5, np.float32)
    rng = np.random.default_rng(0)
    for sigma in (5, 15, 25, 50):
        for quantize in (False, True):
            out = D.add_noise(img, sigma, rng, quantize=quantize)
            std = float((out - img).std() * 255)
            assert abs(std - sigma) < 0.03 * sigma + 0.3, (sigma, quantize, std)
    q = D.add_noise(img, 25, rng, quantize=True)
    assert np.allclose(q * 255, np.rint(q * 255), atol=1e-3)  # 8-bit levels


def test_noise_quantized_follows_promptir_protocol():
    clean = np.random.default_rng(1).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    out = D.add_noise(D.to_float(clean), 25, np.random.default_rng(5), quantize=True)
    n = np.random.default_rng(5).standard_normal(clean.shape, dtype=np.float32)
    expect = np.clip(clean.astype(np.float32) + 25 * n, 0, 255).astype(np.uint8)
    assert np.array_equal(D.to_uint8(out), expect)


def test_sample_sigma_mix():
    rng = np.random.default_rng(0)
    s = np.array([D.sample_sigma(rng) for _ in range(20000)])
    bench = np.isin(s, D.BENCH_SIGMAS)
    assert abs(bench.mean() - 0.6) < 0.02
    assert s.min() >= 5 and s.max() <= 55


# ------------------------------------------------------------------ rain


def orientation(layer: np.ndarray) -> tuple[float, float]:
    """Dominant streak angle (degrees from vertical, + like backslash) and coherence."""
    gx = ndimage.sobel(layer, axis=1)
    gy = ndimage.sobel(layer, axis=0)
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    phi = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))  # gradient angle from x axis
    coherence = np.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy)
    return float(-phi), float(coherence)  # streaks run perpendicular to the gradient


@pytest.mark.parametrize("angle", [-25.0, -10.0, 0.0, 12.0, 28.0])
def test_rain_has_one_direction(angle):
    rng = np.random.default_rng(3)
    p = D.sample_rain_params(rng)
    p.update(angle=angle, density=2e-3, length=30.0)
    black = np.zeros((256, 256, 3), np.float32)
    layer = D.add_rain(black, rng, p)[..., 0]
    est, coh = orientation(layer)
    assert abs(est - angle) < 3.0, (est, angle)
    assert coh > 0.6, coh


def test_rain_random_params_are_coherent_thin_and_bright():
    rng = np.random.default_rng(4)
    for _ in range(10):
        p = D.sample_rain_params(rng)
        assert -30 <= p["angle"] <= 30 and 10 <= p["length"] <= 40
        layer = D.rain_layer(192, 192, rng, p)
        if layer.max() == 0:
            continue
        est, coh = orientation(layer)
        assert abs(est - p["angle"]) < 4.0 and coh > 0.5, (p, est, coh)
        assert layer.max() > 0.4  # bright
        assert (layer > 0.05).mean() < 0.2  # sparse


def test_rain_streaks_are_thin():
    rng = np.random.default_rng(6)
    p = dict(angle=0.0, density=1e-3, length=30.0, width=0.6, intensity=0.9)
    layer = D.rain_layer(256, 256, rng, p)
    runs = []  # horizontal extent of bright pixels across vertical streaks
    for row in layer[::8] > 0.3:
        padded = np.concatenate([[False], row, [False]])
        edges = np.flatnonzero(padded[1:] != padded[:-1])
        runs += list(edges[1::2] - edges[::2])
    assert runs and np.median(runs) <= 2


def test_rain_is_fast_enough_to_synthesize_on_the_fly():
    rng = np.random.default_rng(0)
    img = np.random.default_rng(1).random((512, 768, 3), dtype=np.float32)
    D.add_rain(img, rng)
    t = time.perf_counter()
    D.add_rain(img, rng)
    print(f"rain 768x512: {1e3 * (time.perf_counter() - t):.1f} ms")  # reported, not asserted


def test_layered_rain_params_cover_the_real_rain_range():
    rng = np.random.default_rng(11)
    draws = [D.sample_rain_layers(rng) for _ in range(2000)]
    counts = np.array([len(d["layers"]) for d in draws])
    classic = np.array(["thick" not in d["layers"][0] for d in draws])
    assert abs(classic.mean() - D.RAIN_CLASSIC_SHARE) < 0.03
    assert set(counts[~classic]) == {1, 2, 3}
    layers = [l for d in draws for l in d["layers"] if "thick" in l]
    length = np.array([l["length"] for l in layers])
    thick = np.array([l["thick"] for l in layers])
    width = np.array([l["width"] for l in layers])
    inten = np.array([l["intensity"] for l in layers])
    assert 10 <= length.min() and length.max() <= 100 and (length > 80).mean() > 0.02
    assert 1 <= thick.min() and thick.max() <= 4 and (thick > 3).mean() > 0.03
    assert 0.35 <= width.min() and width.max() <= 2.25 and (width > 1.5).mean() > 0.03
    assert 0.1 <= inten.min() and inten.max() <= 0.9
    assert all(-36 <= l["angle"] <= 36 for l in layers)
    # Near layers (long, wide) are faint and sparse; far ones (short, thin) bright.
    near = (length > 60) & (thick > 2.5)
    far = (length < 25) & (thick < 1.5)
    assert inten[near].mean() < inten[far].mean() - 0.15
    assert np.mean([l["density"] for l, n in zip(layers, near) if n]) < np.mean([l["density"] for l, f in zip(layers, far) if f])
    # The veil: only in heavy (2-3 layer) rain, thin.
    veils = np.array([d["veil"] for d in draws])
    assert np.all(veils[counts == 1] == 0)
    assert 0.2 < (veils[counts >= 2] > 0).mean() < 0.6
    assert veils.max() <= 0.15 and veils[veils > 0].min() >= 0.03
    # One wind: the layers of an image lean the same way (within a few degrees).
    spread = [np.ptp([l["angle"] for l in d["layers"]]) for d in draws if len(d["layers"]) == 3]
    assert np.median(spread) < 10


def test_layered_rain_is_seeded_and_labelled_rain():
    img = natural_like(96, 128)
    a = D.add_rain(img, np.random.default_rng(3), D.sample_rain_layers(np.random.default_rng(4)))
    b = D.add_rain(img, np.random.default_rng(3), D.sample_rain_layers(np.random.default_rng(4)))
    assert np.array_equal(a, b) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    mix = D.Mix.parse("clean=0,single=1,pair=0,triple=0,noise=0,rain=1,haze=0,layered=1")
    p1 = D.random_patch([D.to_uint8(img)], 64, np.random.default_rng(5), mix=mix)
    p2 = D.random_patch([D.to_uint8(img)], 64, np.random.default_rng(5), mix=mix)
    assert np.array_equal(p1[0], p2[0]) and p1[2].tolist() == [0.0, 1.0, 0.0]
    classic = D.random_patch([D.to_uint8(img)], 64, np.random.default_rng(5),
                             mix=D.Mix.parse("clean=0,single=1,pair=0,triple=0,noise=0,rain=1,haze=0"))
    assert not np.array_equal(p1[0], classic[0])  # layered=1 draws the other synthesis


def test_rain_layer_defaults_are_the_classic_streaks():
    """thick 1, ramp 2, profile box are what a classic parameter set means: the shipped
    validation set and earlier runs' samples stay exactly as they were."""
    p = dict(angle=8.0, density=1.5e-3, length=30.0, width=0.5, intensity=0.8)
    a = D.rain_layer(128, 128, np.random.default_rng(2), p)
    b = D.rain_layer(128, 128, np.random.default_rng(2), {**p, "thick": 1.0, "ramp": 2.0, "profile": "box"})
    assert np.array_equal(a, b)


def effective_widths(layer: np.ndarray) -> tuple[list[float], list[float]]:
    """Across vertical streaks, along every 8th row: each run's summed brightness over its
    peak, i.e. the width of a box of the same area and height (a 1-px line gives ~1), and
    the peaks."""
    widths, peaks = [], []
    for row in layer[::8]:
        padded = np.concatenate([[False], row > 0.01, [False]])
        edges = np.flatnonzero(padded[1:] != padded[:-1])
        for a, b in zip(edges[::2], edges[1::2]):
            if row[a:b].max() > 0.1:
                widths.append(float(row[a:b].sum() / row[a:b].max()))
                peaks.append(float(row[a:b].max()))
    return widths, peaks


def test_wide_soft_streaks_are_wide_and_reach_their_intensity():
    base = dict(angle=0.0, density=2e-4, length=60.0, width=0.5, intensity=0.5)
    thin = D.rain_layer(256, 256, np.random.default_rng(6), base)
    wide = D.rain_layer(256, 256, np.random.default_rng(6), {**base, "thick": 4.0})
    soft = D.rain_layer(256, 256, np.random.default_rng(6), {**base, "thick": 4.0, "width": 2.0})
    (w_thin, _), (w_wide, _), (w_soft, _) = (effective_widths(x) for x in (thin, wide, soft))
    assert np.median(w_thin) <= 2
    assert 3.5 <= np.median(w_wide) <= 5.5
    assert np.median(w_soft) > np.median(w_wide) + 1
    # The normalisation makes a streak's centre its intensity (0.5 x 0.6..1 per streak) at
    # any width; a thin streak between pixel centres peaks lower (its density spreads over two).
    for layer, low in ((thin, 0.2), (wide, 0.28), (soft, 0.28)):
        assert low <= np.median(effective_widths(layer)[1]) <= 0.5


def test_cos_profile_is_brightest_in_the_middle_and_ramps_fade_the_ends():
    p = dict(angle=0.0, density=2e-5, length=80.0, width=0.5, intensity=0.8)
    for profile, ramp in (("cos", 2.0), ("box", 25.0), ("box", 2.0)):
        layer = D.rain_layer(300, 300, np.random.default_rng(1), {**p, "profile": profile, "ramp": ramp})
        assert layer.max() > 0.3
        col = int(np.argmax(layer.max(0)))
        # Summed across a band: the streak drifts across columns (its +-3 degree jitter),
        # and the sum does not depend on where it sits between pixel centres.
        line = layer[:, max(0, col - 6):col + 7].sum(1)
        on = np.flatnonzero(line > 0.02)
        seg = line[on[0]:on[-1] + 1]
        q = len(seg) // 8
        ends, middle = max(seg[q], seg[-q - 1]), seg[3 * q:5 * q].mean()  # an eighth in from each end
        if ramp == 2.0 and profile == "box":
            assert ends > 0.8 * middle, (profile, ramp)  # the classic plateau
        else:
            assert ends < 0.6 * middle, (profile, ramp)


@pytest.mark.skipif(not (D.DATA_ROOT / "val" / "kodak24").is_dir(), reason="shared data not available")
def test_layered_rain_psnr_range():
    rng = np.random.default_rng(0)
    ps = []
    for p in D.list_images(D.DATA_ROOT / "val" / "kodak24")[::3]:
        clean = D.to_float(D.read_rgb(p))[:256, :256]
        for _ in range(3):
            ps.append(D.psnr(D.add_rain(clean, rng, D.sample_rain_layers(rng)), clean))
    print(f"layered rain: {np.mean(ps):.2f} dB mean, 5-95% {np.percentile(ps, 5):.1f}-{np.percentile(ps, 95):.1f}")
    assert 20 < np.mean(ps) < 28 and np.percentile(ps, 5) > 13 and np.percentile(ps, 95) < 36


# ------------------------------------------------------------------ hard negatives


def test_sky_keeps_the_content_below_its_horizon_and_is_smooth_above():
    img = natural_like(64, 64)
    rng = np.random.default_rng(2)
    full = 0
    for _ in range(40):
        out = D.add_sky(img, rng)
        assert out.shape == img.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
        top = out[:4]
        assert np.abs(np.diff(top, axis=1)).max() < 0.06  # no edges in the sky (the photo's reach 0.2+)
        if np.array_equal(out[-2:], img[-2:]):
            continue
        full += 1  # sky down to the bottom
        assert np.abs(np.diff(out, axis=1)).max() < 0.06
    assert 0 < full < 15


def test_low_contrast_lowers_contrast_and_never_brightens():
    img = natural_like(64, 64)
    rng = np.random.default_rng(3)
    for _ in range(20):
        out = D.add_low_contrast(img, rng)
        ratio = out.std() / img.std()
        assert 0.5 < ratio < 0.92
        assert out.mean() <= img.mean() + 1e-4


def test_lines_span_the_crop_and_texture_is_the_same_on_all_channels():
    img = natural_like(96, 96)
    rng = np.random.default_rng(4)
    for _ in range(20):
        out = D.add_lines(img, rng)
        moved = np.abs(out - img).max(2) > 0.02
        assert 0 < moved.mean() < 0.7
        ys, xs = np.nonzero(moved)
        assert max(np.ptp(ys), np.ptp(xs)) > 80  # long: across the crop, unlike a rain streak
    tex = D.add_texture(img, rng)
    ok = ((tex > 0) & (tex < 1)).all(2)  # where nothing was clipped
    gain = tex[ok] / img[ok]
    assert ok.mean() > 0.9
    assert np.allclose(gain[:, 0], gain[:, 1], atol=1e-4) and np.allclose(gain[:, 1], gain[:, 2], atol=1e-4)
    assert np.abs(gain - 1).max() > 0.05


def test_hard_negatives_are_content_and_labels_say_only_what_was_added():
    img = D.to_uint8(natural_like(160, 200, seed=5))
    rng = np.random.default_rng(7)
    plain = D.Mix.parse("clean=1,single=0,pair=0,triple=0")
    hard = D.Mix.parse("clean=1,single=0,pair=0,triple=0,hardneg=1")
    for _ in range(6):
        deg, clean, labels, _ = D.random_patch([img], 64, rng, mix=hard)
        assert np.array_equal(deg, clean) and labels.tolist() == [0.0, 0.0, 0.0]
    a = D.random_patch([img], 64, np.random.default_rng(1), mix=plain)
    b = D.random_patch([img], 64, np.random.default_rng(1), mix=hard)
    assert not np.array_equal(a[1], b[1])  # the target holds the hard negative
    noisy = D.Mix.parse("clean=0,single=1,pair=0,triple=0,noise=1,rain=0,haze=0,hardneg=1")
    deg, clean, labels, _ = D.random_patch([img], 64, rng, mix=noisy)
    assert labels.tolist() == [1.0, 0.0, 0.0] and not np.array_equal(deg, clean)
    names = [D.add_hard_negative(natural_like(32, 32), rng)[1] for _ in range(400)]
    assert {n for ns in names for n in ns} == set(D.HARD_NEGATIVES)
    assert 0.2 < np.mean([len(ns) == 2 for ns in names]) < 0.4


# ------------------------------------------------------------------ haze


def test_haze_model_and_psnr_range():
    img = natural_like()
    rng = np.random.default_rng(0)
    ps = []
    for _ in range(40):
        p = D.sample_haze_params(rng)
        assert 0.7 * 0.9 <= min(p["A"]) and max(p["A"]) <= 1.0
        out = D.add_haze(img, rng, p)
        d = D.haze_depth(img, p)
        assert d.min() >= 0 and d.max() <= 1
        t = np.exp(-p["beta"] * d)[..., None]
        assert np.allclose(out, img * t + np.asarray(p["A"], np.float32) * (1 - t), atol=1e-6)
        ps.append(D.psnr(out, img))
    ps = np.array(ps)
    assert 12 <= np.median(ps) <= 20, np.median(ps)
    assert np.percentile(ps, 5) > 8 and np.percentile(ps, 95) < 28, ps


def test_haze_is_denser_toward_the_top_and_crops_agree_with_frame():
    img = natural_like(240, 320)
    p = D.sample_haze_params(np.random.default_rng(1))
    p.update(ramp=0.5, lum=0.0, noise=0.05)
    d = D.haze_depth(img, p)
    assert d[:40].mean() > d[-40:].mean() + 0.2
    crop = D.haze_depth(img[100:164, 50:114], p, frame=(100, 50, 240, 320))
    assert np.allclose(crop, d[100:164, 50:114], atol=1e-5)


@pytest.mark.skipif(not (D.DATA_ROOT / "val" / "haze_hsts").is_dir(), reason="shared data not available")
def test_synthetic_haze_psnr_matches_real_hsts_pairs():
    root = D.DATA_ROOT / "val" / "haze_hsts"
    real = [D.psnr(D.read_rgb(p), D.read_rgb(root / "target" / p.name)) for p in D.list_images(root / "input")]
    rng = np.random.default_rng(0)
    synth = []
    for p in D.list_images(D.DATA_ROOT / "val" / "kodak24")[::2]:
        clean = D.to_float(D.read_rgb(p))
        synth.append(D.psnr(D.add_haze(clean, rng), clean))
    print(f"HSTS real {np.mean(real):.2f}+-{np.std(real):.2f} dB, synthetic {np.mean(synth):.2f}+-{np.std(synth):.2f} dB")
    assert abs(np.mean(synth) - np.mean(real)) < 2.0


# ------------------------------------------------------------------ mixtures


def test_sample_kinds_shares():
    rng = np.random.default_rng(0)
    ks = [D.sample_kinds(rng) for _ in range(20000)]
    n = np.array([len(k) for k in ks])
    for size, share in ((0, 0.10), (1, 0.60), (2, 0.25), (3, 0.05)):
        assert abs((n == size).mean() - share) < 0.015, (size, (n == size).mean())
    singles = [k[0] for k in ks if len(k) == 1]
    for t in D.DEGRADATIONS:
        assert abs(singles.count(t) / len(singles) - 1 / 3) < 0.02


def test_mix_parse_and_shares():
    mix = D.Mix.parse("clean=0.3,single=0.5,pair=0.15,triple=0.05,rain=2")
    assert mix.clean == 0.3 and mix.weights == (1.0, 2.0, 1.0)
    assert D.Mix.parse("") == D.DEFAULT_MIX
    for bad in ("clean=0.5", "fog=1", "clean=0.2,single=0.6,pair=0.25,triple=-0.05", "noise=0,rain=0,haze=0"):
        with pytest.raises(ValueError):
            D.Mix.parse(bad)
    rng = np.random.default_rng(0)
    ks = [D.sample_kinds(rng, mix) for _ in range(20000)]
    n = np.array([len(k) for k in ks])
    for size, share in ((0, 0.30), (1, 0.50), (2, 0.15), (3, 0.05)):
        assert abs((n == size).mean() - share) < 0.015, (size, (n == size).mean())
    singles = [k[0] for k in ks if len(k) == 1]
    for t, share in zip(D.DEGRADATIONS, (0.25, 0.5, 0.25)):
        assert abs(singles.count(t) / len(singles) - share) < 0.02, t


@pytest.mark.parametrize("kinds", [(), ("noise",), ("rain",), ("haze",), ("noise", "rain"),
                                   ("rain", "haze"), ("noise", "haze"), ("noise", "rain", "haze")])
def test_degrade_shapes_ranges_labels(kinds):
    img = natural_like(64, 96)
    out, labels = D.degrade(img, kinds, np.random.default_rng(0))
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert labels.dtype == np.float32 and labels.tolist() == [float(t in kinds) for t in D.DEGRADATIONS]
    assert np.array_equal(out, img) == (len(kinds) == 0)
    again, _ = D.degrade(img, kinds, np.random.default_rng(0))
    assert np.array_equal(out, again)  # seeded => reproducible


def test_degrade_order_is_haze_rain_noise():
    img = natural_like(64, 64)
    p = {"haze": D.sample_haze_params(np.random.default_rng(1)),
         "rain": D.sample_rain_params(np.random.default_rng(2)), "sigma": 25, "quantize": False}
    out, _ = D.degrade(img, ("noise", "rain", "haze"), np.random.default_rng(9), params=p)
    rng = np.random.default_rng(9)
    manual = D.add_noise(D.add_rain(D.add_haze(img, rng, p["haze"]), rng, p["rain"]), 25, rng, quantize=False)
    assert np.array_equal(out, manual)
    with pytest.raises(ValueError):
        D.degrade(img, ("blur",), rng)


def test_degradations_accept_torch_chw():
    img = torch.from_numpy(natural_like(48, 40).transpose(2, 0, 1).copy())
    rng = np.random.default_rng(0)
    for fn in (lambda x: D.add_rain(x, rng), lambda x: D.add_haze(x, rng), lambda x: D.add_noise(x, 15, rng)):
        out = fn(img)
        assert isinstance(out, torch.Tensor) and out.shape == img.shape and out.dtype == torch.float32


# ------------------------------------------------------------------ patches


def fake_images():
    rng = np.random.default_rng(0)
    return [D.to_uint8(natural_like(160, 200, seed=1)),
            np.repeat(rng.integers(0, 256, (140, 150, 1), dtype=np.uint8), 3, axis=2),  # grey
            rng.integers(0, 256, (100, 90, 3), dtype=np.uint8)]  # smaller than the patch


def test_batches_shapes_labels_and_speed():
    gen = D.batches(fake_images(), batch=4, patch=128, rng=np.random.default_rng(0))
    next(gen)
    t = time.perf_counter()
    for _ in range(20):
        deg, clean, labels, decoy = next(gen)
        assert deg.shape == clean.shape == (4, 3, 128, 128) and labels.shape == (4, 3)
        assert not decoy.any()  # the default mix has none
        assert deg.dtype == clean.dtype == labels.dtype == torch.float32
        assert 0 <= float(deg.min()) and float(deg.max()) <= 1
        for i in range(4):
            assert torch.equal(deg[i], clean[i]) == (labels[i].sum() == 0)
    print(f"batch 4x128x128: {1e3 * (time.perf_counter() - t) / 20:.1f} ms")  # reported, not asserted


def test_decoys_put_streaks_into_the_target_and_keep_the_rain_label_zero():
    img = D.to_uint8(natural_like(160, 200, seed=4))
    mix = D.Mix.parse("clean=0.5,single=0.5,pair=0,triple=0,noise=1,rain=0,haze=0,decoy=1")
    rng = np.random.default_rng(1)
    seen = 0
    for _ in range(12):
        deg, clean, labels, decoy = D.random_patch([img], 64, rng, mix=mix)
        assert decoy and labels[1] == 0.0
        seen += labels[0] == 1.0
        if labels[0] == 0.0:  # clean sample: the degraded image is the target, streaks included
            assert np.array_equal(deg, clean)
    assert 0 < seen < 12
    # A rain sample never gets a decoy: its streaks are what must go.
    rain_only = D.Mix.parse("clean=0,single=1,pair=0,triple=0,noise=0,rain=1,haze=0,decoy=1")
    for _ in range(4):
        assert not D.random_patch([img], 64, rng, mix=rain_only)[3]


def test_add_decoy_draws_rain_streaks_in_an_axis_direction():
    flat = np.full((96, 96, 3), 0.3, np.float32)
    rng = np.random.default_rng(5)
    directions = set()
    for _ in range(16):
        out = D.add_decoy(flat, rng)
        assert out.shape == flat.shape and np.all(out >= flat - 1e-6) and out.max() > 0.6
        g = out.mean(2) - 0.3
        # Streaks run along the axis with the larger autocorrelation at a 3 px shift.
        along_y = float((g[3:] * g[:-3]).sum())
        along_x = float((g[:, 3:] * g[:, :-3]).sum())
        directions.add(along_y > along_x)
    assert directions == {True, False}


def test_mix_parses_decoy_and_checks_it():
    assert D.Mix.parse("decoy=0.25").decoy == 0.25
    assert D.Mix.parse("").decoy == 0.0
    with pytest.raises(ValueError, match="decoy"):
        D.Mix.parse("decoy=1.5")
    mix = D.Mix.parse("layered=0.7,hardneg=0.2")
    assert (mix.layered, mix.hardneg, D.Mix.parse("").layered, D.Mix.parse("").hardneg) == (0.7, 0.2, 0.0, 0.0)
    for bad in ("layered=-0.1", "hardneg=2"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            D.Mix.parse(bad)


def test_options_off_keep_the_samples_of_earlier_runs():
    """layered=0 and hardneg=0 draw nothing: the batches are those of a mix without them."""
    imgs = fake_images()
    old = D.Mix.parse("clean=0.15,single=0.6,pair=0.2,triple=0.05,rain=1.5,decoy=0.3")
    new = old._replace(layered=0.0, hardneg=0.0)
    a = next(D.batches(imgs, 4, 32, np.random.default_rng(3), mix=old))
    b = next(D.batches(imgs, 4, 32, np.random.default_rng(3), mix=new))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_train_patches_with_dataloader():
    ds = D.TrainPatches(fake_images(), patch=64, seed=3)
    loader = torch.utils.data.DataLoader(ds, batch_size=5)
    deg, clean, labels = next(iter(loader))
    assert deg.shape == clean.shape == (5, 3, 64, 64) and labels.shape == (5, 3)
    a = next(iter(torch.utils.data.DataLoader(D.TrainPatches(fake_images(), patch=64, seed=3), batch_size=5)))
    assert torch.equal(a[0], deg)


def test_dihedral_gives_eight_distinct_views():
    img = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    views = {D._dihedral(img, k).tobytes() + bytes(D._dihedral(img, k).shape) for k in range(8)}
    assert len(views) == 8


# ------------------------------------------------------------------ validation sets


def fake_data_root(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for rel, size in (("val/kodak24/kodim01.png", (48, 64)), ("val/kodak24/kodim02.png", (64, 48)),
                      ("val/mcmaster/01.tif", (40, 40))):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(D.to_uint8(natural_like(*size, seed=len(rel)))).save(root / rel)
    for sub in ("input", "target"):
        (root / "val/haze_hsts" / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(root / "val/haze_hsts" / sub / "0586.jpg")
    return root


def test_valsets_are_deterministic_and_loadable(tmp_path):
    root = fake_data_root(tmp_path / "data")
    MV.main(["--data-root", str(root), "--out", str(tmp_path / "a")])
    MV.main(["--data-root", str(root), "--out", str(tmp_path / "b")])
    for s in MV.SETS:
        files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / s).rglob("*") if p.is_file())
        assert files, s
        match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", [str(f) for f in files], shallow=False)
        assert not mismatch and not errors, (s, mismatch, errors)
    items = D.load_valset(tmp_path / "a" / "noise25")
    assert [it.name for it in items] == ["kodak24-kodim01", "kodak24-kodim02", "mcmaster-01"]
    for it in items:
        assert it.input.shape == it.target.shape and it.input.dtype == np.uint8
        assert it.labels.tolist() == [1.0, 0.0, 0.0]
        rng = np.random.default_rng(MV.seed_of("noise25", it.name))
        expect = np.clip(it.target.astype(np.float64) + 25 * rng.standard_normal(it.target.shape), 0, 255).astype(np.uint8)
        assert np.array_equal(it.input, expect)
    labels = {s: D.load_valset(tmp_path / "a" / s)[0].labels.tolist() for s in MV.SETS}
    assert labels["rain"] == [0, 1, 0] and labels["haze"] == [0, 0, 1] and labels["haze_hsts"] == [0, 0, 1]
    assert labels["rain_layers"] == labels["rain_indep"] == [0, 1, 0]
    assert labels["clean"] == [0, 0, 0]
    for it in D.load_valset(tmp_path / "a" / "hardneg"):  # noisy or not, never haze or rain
        assert it.labels.tolist() in ([0, 0, 0], [1, 0, 0])
        assert np.array_equal(it.input, it.target) == (it.labels[0] == 0)
    for s in ("rain_layers", "rain_indep"):
        for it in D.load_valset(tmp_path / "a" / s):
            assert not np.array_equal(it.input, it.target)
    clean = D.load_valset(tmp_path / "a" / "clean")
    assert all(np.array_equal(it.input, it.target) for it in clean)
    meta = json.loads((tmp_path / "a" / "haze" / "labels.json").read_text())
    assert {"beta", "A"} <= set(meta["items"][0]["params"])
    assert D.to_tensor(items[0].input).shape == (1, 3, 48, 64)


def test_train_batches_match_batches_per_worker_seed():
    """TrainBatches in worker w yields exactly batches() with rng [*seed, w], the mix honoured."""
    mix = D.Mix.parse("clean=0,single=1,pair=0,triple=0,noise=0,rain=1,haze=0")
    loader = torch.utils.data.DataLoader(D.TrainBatches(fake_images(), 3, 32, [7, 0, 5], mix=mix),
                                         batch_size=None, num_workers=2)
    it = iter(loader)
    first, second = next(it), next(it)  # worker 0's first batch, then worker 1's
    for got, wid in ((first, 0), (second, 1)):
        want = next(D.batches(fake_images(), 3, 32, np.random.default_rng([7, 0, 5, wid]), mix=mix))
        for g, w in zip(got, want):
            assert torch.equal(g, w)
        assert torch.equal(got[2], torch.tensor([[0.0, 1.0, 0.0]] * 3))
    assert not torch.equal(first[0], second[0])
