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
    assert labels["clean"] == [0, 0, 0]
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
