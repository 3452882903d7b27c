"""Write the fixed validation sets (and the docs contact sheet) from ../shared/data/val.

    python -m training.make_valsets [--out training/runs/valsets] [--sets noise25 rain ...]
    python -m training.make_valsets --sheet docs/degradations.png   # contact sheet only
    python -m training.make_valsets --rain-sheet docs/rain.png      # the rain looks only

Layout: <out>/<set>/input/NAME.png, <out>/<set>/target/NAME.png, <out>/<set>/labels.json.
NAME is "<source>-<stem>", e.g. "kodak24-kodim01", "mcmaster-01", "hsts-0586".

Sets (clean images: kodak24 + mcmaster, 42 images):
- noise15, noise25, noise50: uint8(clip(clean + sigma * N(0, 1), 0, 255)), float64
  arithmetic, truncating uint8 cast as numpy's astype: the PromptIR test protocol
  (../shared/data/README.md).
- rain, haze: this project's synthesis (training/data.py) at full resolution, rounded to 8 bits
  (rain: the single Rain100L-like layer).
- rain_layers: the layered real-rain synthesis (data.sample_rain_layers) that training draws
  with `--mix layered=...`.
- rain_indep: rain from training/rain_render.py, a renderer written independently of the
  training synthesis (another streak model), so that this set measures transfer to rain the
  model has never seen rather than memory of the training generator.
- hardneg: data.add_hard_negative drawn into the clean image (skies, low contrast, lines,
  texture: content, kept in the target), half of them then noisy at sigma 15/25/50; the
  labels are only what was added (Prompt Net false alarms on hard content).
- haze_hsts: the real RESIDE HSTS pairs, decoded from JPEG and stored as PNG (same pixels).
- clean: input == target, all labels 0 (false alarms of the Prompt Net).

Each image has its own generator, seeded from crc32("<set>/<NAME>"), so every file is
reproducible on its own and regenerating gives byte-identical PNGs.
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from . import data as D
from . import rain_render
from .data import load_valset  # noqa: F401  (re-exported for the trainer)

CLEAN_SOURCES = ["kodak24", "mcmaster"]
SETS = ["noise15", "noise25", "noise50", "rain", "haze", "haze_hsts", "clean", "rain_layers", "rain_indep", "hardneg"]
DEFAULT_OUT = D.REPO / "training" / "runs" / "valsets"


def seed_of(set_name: str, name: str) -> int:
    return zlib.crc32(f"{set_name}/{name}".encode())


def clean_images(data_root: Path) -> list[tuple[str, str, np.ndarray]]:
    """(NAME, source path relative to data_root, uint8 image) for the clean val images."""
    out = []
    for src in CLEAN_SOURCES:
        for p in D.list_images(data_root / "val" / src):
            out.append((f"{src}-{p.stem}", f"val/{src}/{p.name}", D.read_rgb(p)))
    return out


def noisy_protocol(clean_u8: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """uint8(clip(clean + sigma * N(0, 1), 0, 255)), exactly as PromptIR's test code."""
    noisy = clean_u8.astype(np.float64) + sigma * rng.standard_normal(clean_u8.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _rounded(v):
    """Parameters for labels.json: floats to 6 decimals, also in nested dicts (the rain
    layers); lists of numbers (haze's A) are kept as they are, as they always were."""
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)) and any(isinstance(x, dict) for x in v):
        return [_rounded(x) for x in v]
    return v


def _save_png(arr: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format="PNG", compress_level=6)


def build_set(set_name: str, data_root: Path, out: Path, cleans=None) -> dict:
    items = []
    dest = out / set_name
    if set_name == "haze_hsts":
        root = data_root / "val" / "haze_hsts"
        for p in D.list_images(root / "input"):
            name = f"hsts-{p.stem}"
            hazy, clear = D.read_rgb(p), D.read_rgb(root / "target" / p.name)
            _save_png(hazy, dest / "input" / f"{name}.png")
            _save_png(clear, dest / "target" / f"{name}.png")
            items.append(dict(name=name, source=f"val/haze_hsts/input/{p.name}",
                              labels=[0.0, 0.0, 1.0], psnr_input=round(D.psnr(hazy, clear), 4)))
    else:
        cleans = cleans if cleans is not None else clean_images(data_root)
        for name, source, clean in cleans:
            rng = np.random.default_rng(seed_of(set_name, name))
            params: dict = {}
            if set_name.startswith("noise"):
                sigma = int(set_name[len("noise"):])
                inp, kinds, params = noisy_protocol(clean, sigma, rng), ("noise",), {"sigma": sigma}
            elif set_name == "rain":
                params = D.sample_rain_params(rng)
                inp, kinds = D.to_uint8(D.add_rain(D.to_float(clean), rng, params)), ("rain",)
            elif set_name == "haze":
                params = D.sample_haze_params(rng)
                inp, kinds = D.to_uint8(D.add_haze(D.to_float(clean), rng, params)), ("haze",)
            elif set_name == "rain_layers":
                params = D.sample_rain_layers(rng)
                inp, kinds = D.to_uint8(D.add_rain(D.to_float(clean), rng, params)), ("rain",)
            elif set_name == "rain_indep":
                params = rain_render.render_params(rng, *clean.shape[:2])
                inp, kinds = D.to_uint8(rain_render.render_rain(D.to_float(clean), rng, params)), ("rain",)
            elif set_name == "hardneg":
                content, names = D.add_hard_negative(D.to_float(clean), rng)
                clean = D.to_uint8(content)  # the target: hard negatives are content
                params = {"hard": list(names)}
                if rng.random() < 0.5:
                    params["sigma"] = int(D.BENCH_SIGMAS[rng.integers(3)])
                    inp, kinds = noisy_protocol(clean, params["sigma"], rng), ("noise",)
                else:
                    inp, kinds = clean, ()
            elif set_name == "clean":
                inp, kinds = clean, ()
            else:
                raise ValueError(f"unknown set {set_name}")
            _save_png(inp, dest / "input" / f"{name}.png")
            _save_png(clean, dest / "target" / f"{name}.png")
            items.append(dict(name=name, source=source, labels=D.labels_of(kinds).tolist(),
                              params=_rounded(params),
                              psnr_input=None if not kinds else round(D.psnr(inp, clean), 4)))
    meta = dict(set=set_name, types=list(D.DEGRADATIONS), items=items)
    (dest / "labels.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return meta


def contact_sheet(data_root: Path, path: Path, rows: int = 4, size: int = 180, seed: int = 7) -> None:
    """Native-resolution crops of kodak24: clean | noise25 | rain | haze | rain+noise25 | haze+rain."""
    rng = np.random.default_rng(seed)
    paths = D.list_images(data_root / "val" / "kodak24")
    picks = [paths[i] for i in rng.choice(len(paths), rows, replace=False)]
    lines = []
    for p in picks:
        full = D.to_float(D.read_rgb(p))
        H, W = full.shape[:2]
        y0, x0 = int(rng.integers(H - size + 1)), int(rng.integers(W - size + 1))
        c = full[y0:y0 + size, x0:x0 + size]
        fr = (y0, x0, H, W)
        cols = [c, D.add_noise(c, 25, rng), D.add_rain(c, rng), D.add_haze(c, rng, frame=fr),
                D.degrade(c, ("rain", "noise"), rng, params={"sigma": 25, "quantize": True})[0],
                D.degrade(c, ("haze", "rain"), rng, frame=fr)[0]]
        gap = np.ones((size, 4, 3), np.float32)
        lines.append(np.concatenate(sum(([x, gap] for x in cols), [])[:-1], axis=1))
    gap = np.ones((4, lines[0].shape[1], 3), np.float32)
    sheet = np.concatenate(sum(([l, gap] for l in lines), [])[:-1], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(D.to_uint8(sheet)).save(path, format="PNG", optimize=True)


def rain_sheet(data_root: Path, path: Path, rows: int = 4, size: int = 200, seed: int = 5) -> None:
    """Native-resolution crops of kodak24 and mcmaster: clean | classic (the single
    Rain100L-like layer) | three draws of the layered training synthesis | the independent
    renderer (validation only; rendered on the whole image, then cropped, since its scene
    scales with the frame)."""
    rng = np.random.default_rng(seed)
    paths = D.list_images(data_root / "val" / "kodak24") + D.list_images(data_root / "val" / "mcmaster")
    picks = [paths[i] for i in rng.choice(len(paths), rows, replace=False)]
    lines = []
    for p in picks:
        full = D.to_float(D.read_rgb(p))
        H, W = full.shape[:2]
        y0, x0 = int(rng.integers(H - size + 1)), int(rng.integers(W - size + 1))
        c = full[y0:y0 + size, x0:x0 + size]
        layered = []
        while len(layered) < 3:  # show the new looks: skip draws that are the classic layer
            params = D.sample_rain_layers(rng)
            if "thick" in params["layers"][0]:
                layered.append(D.add_rain(c, rng, params))
        indep = rain_render.render_rain(full, rng)[y0:y0 + size, x0:x0 + size]
        cols = [c, D.add_rain(c, rng, D.sample_rain_params(rng)), *layered, indep]
        gap = np.ones((size, 4, 3), np.float32)
        lines.append(np.concatenate(sum(([x, gap] for x in cols), [])[:-1], axis=1))
    gap = np.ones((4, lines[0].shape[1], 3), np.float32)
    sheet = np.concatenate(sum(([l, gap] for l in lines), [])[:-1], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(D.to_uint8(sheet)).save(path, format="PNG", optimize=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--data-root", type=Path, default=D.DATA_ROOT)
    ap.add_argument("--sets", nargs="+", default=SETS, choices=SETS)
    ap.add_argument("--sheet", type=Path, help="write only the contact sheet PNG to this path")
    ap.add_argument("--rain-sheet", type=Path, help="write only the rain contact sheet PNG to this path")
    args = ap.parse_args(argv)
    if args.sheet or args.rain_sheet:
        if args.sheet:
            contact_sheet(args.data_root, args.sheet)
            print(f"wrote {args.sheet}")
        if args.rain_sheet:
            rain_sheet(args.data_root, args.rain_sheet)
            print(f"wrote {args.rain_sheet}")
        return
    cleans = clean_images(args.data_root)
    for s in args.sets:
        meta = build_set(s, args.data_root, args.out, cleans)
        ps = [it["psnr_input"] for it in meta["items"] if it["psnr_input"] is not None]
        print(f"{s:10s} {len(meta['items']):3d} images  input PSNR mean "
              f"{np.mean(ps) if ps else float('nan'):6.2f} dB  -> {args.out / s}")


if __name__ == "__main__":
    main()
