"""One checkpoint from two: the restorer of one, the Prompt Net of another.

    python training/combine.py --restorer RUN/last.pt --prompt-net training/checkpoints/small.pt \
        --out training/runs/combo.pt [--note "why"]

Why this exists: the restorer sees the Prompt Net only through its probabilities, so a
newly trained restorer can ship with an older Prompt Net whose detection measured better
(docs/training.md: the shipped file pairs a later restorer with the Prompt Net of
iteration 23,000, trained on 2026-12-03). The result keeps the restorer checkpoint's
iteration counter and schedule, drops the optimizer state (it belongs to neither half
alone) and records both sources in its provenance, which the exporter copies into the
model file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch  # noqa: E402

from .train import atomic_save  # noqa: E402

PROMPT_PREFIX = "prompt_net."


def read_checkpoint(path: Path) -> dict:
    """The checkpoint at `path`, or exit with a one-line error when there is none (these
    tools are run by hand, where a torch.load traceback hides the mistyped name)."""
    if not path.is_file():
        sys.exit(f"error: {path}: no such checkpoint")
    return torch.load(path, map_location="cpu", weights_only=False)


def require_same_model(a: dict, b: dict, what: str = "the two checkpoints") -> None:
    """Raise ValueError unless checkpoints `a` and `b` have the same config, tensor names
    and tensor shapes: what mixing tensors of the two (combine.py, average.py) needs for
    the result to load."""
    if a["config"] != b["config"]:
        raise ValueError(f"{what} have different configs")
    ta, tb = a["model"], b["model"]
    if ta.keys() != tb.keys():
        raise ValueError(f"{what} name different tensors: {sorted(ta.keys() ^ tb.keys())[:5]}")
    for k, v in ta.items():
        if v.shape != tb[k].shape:
            raise ValueError(f"{k}: shape {tuple(v.shape)} against {tuple(tb[k].shape)}")


def combine(restorer: dict, prompt_net: dict, note: str) -> dict:
    """`restorer` with every `prompt_net.*` tensor taken from `prompt_net`.

    Both must be checkpoints of the same model (`require_same_model`); anything else is
    refused rather than silently producing a file that will not load.
    """
    require_same_model(restorer, prompt_net)
    a, b = restorer["model"], prompt_net["model"]
    swapped = [k for k in a if k.startswith(PROMPT_PREFIX)]
    if not swapped:
        raise ValueError(f"no {PROMPT_PREFIX}* tensors to swap")
    out = dict(restorer)
    out["model"] = {k: (b[k].clone() if k in swapped else v) for k, v in a.items()}
    out.pop("opt", None)
    out["provenance"] = {**restorer.get("provenance", {}), "note": note}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--restorer", type=Path, required=True, help="checkpoint whose restorer (and counter) is kept")
    ap.add_argument("--prompt-net", type=Path, required=True, help="checkpoint whose Prompt Net is taken")
    ap.add_argument("--out", type=Path, required=True, help="combined checkpoint, without optimizer state")
    ap.add_argument("--note", help="provenance note (default: names both sources and their iterations)")
    a = ap.parse_args(argv)
    r, p = read_checkpoint(a.restorer), read_checkpoint(a.prompt_net)
    note = a.note or (
        f"restorer: {a.restorer} (iteration {r.get('iteration')}); "
        f"Prompt Net: {a.prompt_net} (iteration {p.get('iteration')})"
    )
    try:
        combined = combine(r, p, note)
    except ValueError as e:
        sys.exit(f"error: {e}")
    atomic_save(combined, a.out)
    print(f"wrote {a.out} (iteration {combined['iteration']}): {note}")


if __name__ == "__main__":
    main()
