"""Evaluate a model (and classical baselines) with PSNR/SSIM per MODEL.md section 5.

    python training/evaluate.py --model assets/models/allinone-small.safetensors
    python training/evaluate.py --model M --sets noise25 haze_hsts --baselines --json out.json
    python training/evaluate.py --model M --input DIR --target DIR      # any paired folder
    python training/evaluate.py --checkpoint training/runs/small/last.pt --limit 4
    python training/evaluate.py --model M --baselines --per-source 3   # 3 images of each dataset

Sets come from training/make_valsets.py (built on demand). For each set the table gives
the degraded input, the model and - with --baselines - CBM3D (noise sets, true sigma) or
the dark channel prior (haze sets), plus the Prompt Net's detection rate: the share of
images where each present type scores >= 0.5 (for `clean`, where all types stay < 0.5).
Baseline results are cached in training/baseline_cache.json (tracked; they never change).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from . import baselines  # noqa: E402
from . import data as D  # noqa: E402
from .metrics import psnr, psnr_y, ssim, to_u8  # noqa: E402

DEFAULT_SETS = ["noise15", "noise25", "noise50", "rain", "rain_layers", "rain_indep", "haze", "haze_hsts", "clean",
                "hardneg"]
# A type absent from an image "is invented" when its probability exceeds this: the app and
# `classify` show the probabilities, and a user reads 0.4 haze on a noisy photo as haze.
SPURIOUS_AT = 0.3
CACHE = D.REPO / "training" / "baseline_cache.json"  # tracked: CBM3D takes minutes per image


class Restorer:
    """A model file (run by the graph interpreter) or a training checkpoint."""

    def __init__(self, model: Path | None, checkpoint: Path | None, ensemble: bool = False):
        self.ensemble = ensemble
        if checkpoint:
            from .export import load_checkpoint

            self.net, _ = load_checkpoint(checkpoint)
            self.names = self.net.cfg.degradations
        else:
            from .graph import FileModel

            self.net = FileModel(model)
            self.names = self.net.doc["degradations"]

    @torch.no_grad()
    def __call__(self, img_u8: np.ndarray):
        x = D.to_tensor(img_u8)
        out, probs = self.net.restore(x, ensemble=self.ensemble)
        return out[0].clamp(0, 1).permute(1, 2, 0).numpy(), probs.flatten().numpy()

    @torch.no_grad()
    def classify(self, img_u8: np.ndarray) -> np.ndarray:
        return self.net.classify(D.to_tensor(img_u8)).flatten().numpy()


def baseline_for(set_name: str):
    if set_name.startswith("noise"):
        sigma = float(set_name[5:])
        return "CBM3D", lambda x: baselines.cbm3d(x, sigma)
    if set_name.startswith("haze"):
        return "DCP", baselines.dehaze_dcp
    return None, None


def paired_items(inp: Path, tgt: Path):
    for p in D.list_images(inp):
        matches = [q for q in D.list_images(tgt) if q.stem == p.stem]
        if not matches:
            raise SystemExit(f"error: {p.name}: no target with the same name in {tgt}")
        a, b = D.read_rgb(p), D.read_rgb(matches[0])
        if a.shape != b.shape:
            raise SystemExit(f"error: {p.name}: input {a.shape[:2]} and target {b.shape[:2]} differ in size")
        yield D.ValItem(p.stem, a, b, np.full(3, np.nan, np.float32))


def evaluate_set(name, items, restorer, with_baseline, cache):
    bname, bfn = baseline_for(name) if with_baseline else (None, None)
    rows = []
    for it in items:
        row = {"name": it.name, "input": {"psnr": psnr(it.input, it.target), "ssim": ssim(it.input, it.target), "psnr_y": psnr_y(it.input, it.target)}}
        if restorer is not None:
            out, probs = restorer(it.input)
            row["model"] = {"psnr": psnr(out, it.target), "ssim": ssim(out, it.target), "psnr_y": psnr_y(out, it.target)}
            row["probs"] = [float(p) for p in probs]
        if bfn is not None:
            key = f"{name}/{it.name}/{bname}"
            if key not in cache:
                t = time.time()
                res = to_u8(bfn(D.to_float(it.input)))
                cache[key] = {"psnr": psnr(res, it.target), "ssim": ssim(res, it.target), "psnr_y": psnr_y(res, it.target), "seconds": time.time() - t}
            row["baseline"] = dict(cache[key], method=bname)
        row["labels"] = [float(x) for x in it.labels]
        rows.append(row)
    return rows


def source_of(image_name: str) -> str:
    """Valset images are named <source>-<image> (make_valsets.py)."""
    return image_name.split("-", 1)[0]


def sources(names) -> list[str]:
    """The source datasets of these image names, in order of first appearance."""
    return list(dict.fromkeys(source_of(n) for n in names))


def summarize(name, rows, type_names):
    s = {"set": name, "n": len(rows)}
    for key in ("input", "model", "baseline"):
        if rows and key in rows[0]:
            s[key] = {m: float(np.mean([r[key][m] for r in rows])) for m in ("psnr", "ssim", "psnr_y")}
            if key == "baseline":
                s[key]["method"] = rows[0]["baseline"]["method"]
    if rows and "probs" in rows[0] and not np.isnan(rows[0]["labels"][0]):
        labels = np.array([r["labels"] for r in rows])
        probs = np.array([r["probs"] for r in rows])
        s["detection"] = detection_rates(labels, probs, type_names)
        s["spurious"] = spurious_shares(labels, probs, type_names)
        s["mean_probs"] = [float(x) for x in probs.mean(0)]
    return s


def detection_rates(labels: np.ndarray, probs: np.ndarray, type_names) -> dict:
    """Share of images where each present type scores >= 0.5 (all < 0.5 for clean images)."""
    pred = probs >= 0.5
    det = {}
    for j, t in enumerate(type_names):
        present = labels[:, j] > 0.5
        if present.any():
            det[t] = float(pred[present, j].mean())
    if not labels.any():
        det["clean_all_below_0.5"] = float((~pred.any(1)).mean())
    return det


def spurious_shares(labels: np.ndarray, probs: np.ndarray, type_names) -> dict:
    """Share of images where a type that is absent scores above SPURIOUS_AT, per type (over
    the images without it) and for any type ("any")."""
    absent_high = (probs > SPURIOUS_AT) & (labels < 0.5)
    out = {t: float(absent_high[labels[:, j] < 0.5, j].mean()) for j, t in enumerate(type_names)
           if (labels[:, j] < 0.5).any()}
    out["any"] = float(absent_high.any(1).mean())
    return out


def detect_all(items, restorer, type_names) -> dict:
    """Detection over every image of a set: the Prompt Net only sees crops, so this is cheap
    even where restoration is evaluated on a subset."""
    labels = np.array([it.labels for it in items])
    probs = np.array([restorer.classify(it.input) for it in items])
    return {"n": len(items), **detection_rates(labels, probs, type_names),
            "spurious_any": spurious_shares(labels, probs, type_names)["any"]}


def fmt(d):
    return f"{d['psnr']:6.2f} / {d['ssim']:.4f}" if d else " " * 15


def print_table(summaries):
    print(f"{'set':12} {'n':>3}  {'input PSNR/SSIM':>15}  {'model PSNR/SSIM':>15}  {'baseline PSNR/SSIM':>24}  "
          f"detection; spurious (absent type > {SPURIOUS_AT})")
    for s in summaries:
        b = s.get("baseline")
        btxt = f"{b['method']:>6} {fmt(b)}" if b else ""
        det = " ".join(f"{k}={v:.2f}" for k, v in s.get("detection", {}).items())
        if "spurious" in s:
            det += "; spurious " + " ".join(f"{k}={v:.2f}" for k, v in s["spurious"].items())
        if "detection_all" in s:
            d = dict(s["detection_all"])
            det += f"  (all {d.pop('n')}: " + " ".join(f"{k}={v:.2f}" for k, v in d.items()) + ")"
        print(f"{s['set']:12} {s['n']:3d}  {fmt(s.get('input'))}  {fmt(s.get('model'))}  {btxt:>24}  {det}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--model", type=Path, help="model file (.safetensors)")
    src.add_argument("--checkpoint", type=Path, help="training checkpoint (.pt)")
    ap.add_argument("--sets", nargs="+", default=DEFAULT_SETS)
    ap.add_argument("--valsets", type=Path, default=D.REPO / "training" / "runs" / "valsets")
    ap.add_argument("--input", type=Path, help="paired folder mode: degraded images")
    ap.add_argument("--target", type=Path, help="paired folder mode: clean images with the same names")
    ap.add_argument("--baselines", action="store_true", help="also run CBM3D / dark channel prior")
    ap.add_argument("--limit", type=int, default=0, help="first N images per set (0: all)")
    ap.add_argument(
        "--per-source",
        type=int,
        default=0,
        help="first N images of each source dataset in a set (kodak24, mcmaster, hsts, ...), so a "
        "subset still covers every dataset; each source also gets its own summary row",
    )
    ap.add_argument("--json", type=Path, help="write per-image results and the summary here")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--ensemble", action="store_true", help="self-ensemble (ensemble.py): up to 8 forwards per image")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    restorer = Restorer(a.model, a.checkpoint, a.ensemble) if (a.model or a.checkpoint) else None
    type_names = restorer.names if restorer else list(D.DEGRADATIONS)
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    summaries, per_image = [], {}
    if a.input or a.target:
        if not (a.input and a.target):
            ap.error("--input and --target go together")
        jobs = [(a.input.name, list(paired_items(a.input, a.target)))]
    else:
        missing = [s for s in a.sets if not (a.valsets / s / "labels.json").exists()]
        if missing:
            from . import make_valsets

            make_valsets.main(["--out", str(a.valsets), "--sets", *missing])
        jobs = [(s, D.load_valset(a.valsets / s)) for s in a.sets]
    for name, all_items in jobs:
        items = all_items[: a.limit] if a.limit else all_items
        if a.per_source:
            groups = {src: [it for it in items if source_of(it.name) == src] for src in sources(it.name for it in items)}
            items = [it for group in groups.values() for it in group[: a.per_source]]
        rows = evaluate_set(name, items, restorer, a.baselines, cache)
        per_image[name] = rows
        summaries.append(summarize(name, rows, type_names))
        if restorer is not None and len(items) < len(all_items) and not np.isnan(all_items[0].labels[0]):
            summaries[-1]["detection_all"] = detect_all(all_items, restorer, type_names)
        by_source = sources(r["name"] for r in rows)
        if len(by_source) > 1:  # the targets are per dataset (kodak24 and mcmaster)
            for src in by_source:
                summaries.append(summarize(f"  {src}", [r for r in rows if source_of(r["name"]) == src], type_names))
        if a.baselines:
            CACHE.parent.mkdir(parents=True, exist_ok=True)
            CACHE.write_text(json.dumps(cache, indent=1, sort_keys=True))
    if a.ensemble:
        print("model outputs: self-ensemble (ensemble.py)")
    print_table(summaries)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"ensemble": a.ensemble, "summary": summaries, "images": per_image}, indent=1))
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
