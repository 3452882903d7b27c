"""Checkpoint -> model file (docs/model-format.md), validated before it is written.

    python training/export.py CHECKPOINT OUT.safetensors [--f16]
    python training/export.py --random tiny --seed 0 OUT.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch  # noqa: E402

from .graph import VERSION, FORMAT, GraphBuilder, FileModel, save_model_file  # noqa: E402
from .model import AllInOne, config_dict, get_config, Config  # noqa: E402


def build_document(model: AllInOne, provenance: dict | None = None, max_crops: int = 4):
    """The graph document and weight tensors of `model` (in eval mode, BN folded)."""
    model = model.eval()
    cfg = model.cfg
    g = GraphBuilder(model)
    (crop,) = g.begin([("crop", 3)])
    g.end("classify", {"probs": model.prompt_net.emit(g, crop)})
    img, probs = g.begin([("image", 3), ("probs", len(cfg.degradations))])
    g.end("restore", {"restored": model.restorer.emit(g, img, probs)})
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "config": cfg.name,
        "config_detail": config_dict(cfg),
        "degradations": list(cfg.degradations),
        "prompt": {"crop": cfg.crop, "max_crops": max_crops},
        "provenance": provenance or {},
        "functions": g.functions,
    }
    return doc, g.tensors


def export(model: AllInOne, out: str | Path, provenance: dict | None = None, f16: bool = False) -> None:
    doc, tensors = build_document(model, provenance)
    save_model_file(out, doc, tensors, torch.float16 if f16 else torch.float32)


def load_checkpoint(path: str | Path) -> tuple[AllInOne, dict]:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    cfg = Config(**ck["config"]) if isinstance(ck["config"], dict) else get_config(ck["config"])
    model = AllInOne(cfg)
    model.load_state_dict(ck["model"])
    return model.eval(), ck.get("provenance", {})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?", help="training checkpoint (.pt)")
    ap.add_argument("out", help="output .safetensors model file")
    ap.add_argument("--random", metavar="CONFIG", help="export seeded random weights of CONFIG instead")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--f16", action="store_true", help="store weights as float16")
    ap.add_argument("--check", action="store_true", help="reload the file and compare with the original forward")
    a = ap.parse_args(argv)
    if a.random:
        torch.manual_seed(a.seed)
        model, prov = AllInOne(get_config(a.random)).eval(), {"source": f"random weights, seed {a.seed}"}
    elif a.checkpoint:
        model, prov = load_checkpoint(a.checkpoint)
    else:
        ap.error("give a checkpoint or --random CONFIG")
    export(model, a.out, prov, a.f16)
    print(f"wrote {a.out} ({Path(a.out).stat().st_size / 1e6:.2f} MB)")
    if a.check:
        x = torch.rand(1, 3, 45, 61, generator=torch.Generator().manual_seed(1))
        ref, p = model.restore(x)
        got, q = FileModel(a.out).restore(x)
        print(f"round trip: max |restored diff| {(ref - got).abs().max():.3g}, max |probs diff| {(p - q).abs().max():.3g}")


if __name__ == "__main__":
    main()
