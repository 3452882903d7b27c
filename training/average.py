"""One checkpoint whose weights are the mean of several checkpoints of the same model.

    python training/average.py A.pt B.pt [...] --out training/runs/avg.pt [--note "why"]

Why this exists: run d2 (2026-12-07) continued d1 with more noise in the mix; against
d1 it gained on noise and clean photos and lost on rain (docs/training.md). Two points of
one training trajectory lie in one basin, so the mean of their weights is a model of its
own that, measured, kept most of d2's gains and little of its loss ("model soup",
Wortsman et al. 2022). Averaging checkpoints that did not descend from one another gives
garbage, so this is meant for runs that continue each other.

The result is a compact checkpoint (no optimizer state: it belongs to none of the
sources) that keeps the LAST source's iteration counter and schedule, and records every
source in its provenance, which the exporter copies into the model file. Tensors that are
not floating point (counters) are taken from the last source.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

from .combine import read_checkpoint, require_same_model  # noqa: E402
from .train import atomic_save  # noqa: E402


def average(checkpoints: list[dict], note: str) -> dict:
    """The last checkpoint with every floating-point tensor replaced by the mean over all.

    All must be checkpoints of the same model (`combine.require_same_model`); anything
    else is refused rather than silently producing a file that will not load."""
    if len(checkpoints) < 2:
        raise ValueError("give at least two checkpoints to average")
    last = checkpoints[-1]
    for i, ck in enumerate(checkpoints[:-1]):
        require_same_model(ck, last, f"checkpoint {i + 1} and the last one")
    mean = {}
    for k, v in last["model"].items():
        if v.is_floating_point():
            # accumulate in f32 so that bf16 or f16 sources do not round at every addition
            total = sum(ck["model"][k].float() for ck in checkpoints)
            mean[k] = (total / len(checkpoints)).to(v.dtype)
        else:
            mean[k] = v.clone()
    out = dict(last)
    out["model"] = mean
    out.pop("opt", None)
    out.pop("ema", None)
    out["provenance"] = {**last.get("provenance", {}), "note": note}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", type=Path, nargs="+", help="checkpoints to average; the last one's counter is kept")
    ap.add_argument("--out", type=Path, required=True, help="averaged checkpoint, without optimizer state")
    ap.add_argument("--note", help="provenance note (default: names every source and its iteration)")
    a = ap.parse_args(argv)
    checkpoints = [read_checkpoint(path) for path in a.sources]
    note = a.note or "weight mean of " + ", ".join(
        f"{p} (iteration {ck.get('iteration')})" for p, ck in zip(a.sources, checkpoints)
    )
    try:
        averaged = average(checkpoints, note)
    except ValueError as e:
        sys.exit(f"error: {e}")
    atomic_save(averaged, a.out)
    print(f"wrote {a.out} (iteration {averaged['iteration']}): {note}")


if __name__ == "__main__":
    main()
