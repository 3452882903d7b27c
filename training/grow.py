"""A deeper model that starts as exactly the function of a trained one.

    python training/grow.py --from training/checkpoints/small.pt --config medium \
        --out training/runs/grown.pt [--note "why"]

Why this exists: `small` has trained for 23 hours on the 2-core CPU and its noise scores
move by tenths of a dB per 5,000 iterations, while a deeper config trained from scratch
on this CPU would need days to catch up with it. Growing keeps everything `small`
learned: every tensor of the source is copied, and each block the target config adds to
a stack is appended after the stack's last block as a copy of it whose three output
projections (`attn.proj_c`, `attn.proj_p`, `ffn.pout`) are zero and whose branch mix
(`attn.w1`, `attn.w2`) is 0.5 / 0.5. Such a block is the identity:

    MHDSA(x) = 0.5 (x + proj_c(.)) + 0.5 (x + proj_p(.)) = x   when proj_c = proj_p = 0
    block(x) = MHDSA(x) + pout(.)                        = x   when pout = 0

so the grown model computes the same image as its source (training/tests/test_grow.py checks it,
and the exported file runs through the same WGSL graph), and training only ever starts
from where the source stood. The copied weights, rather than fresh random ones, give the
zero projections useful features to learn from on the first step.

The result is a compact checkpoint (no optimizer state) that keeps the source's iteration
counter and records its origin in the provenance; train it with `train.py --init OUT
--fresh-schedule N`.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import asdict, fields
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch  # noqa: E402

from .model import AllInOne, Config, DsaStack, Restorer, get_config  # noqa: E402
from .train import atomic_save  # noqa: E402

# The config fields that growing may change; every other field must match the source.
GROWABLE = {"name", "blocks", "refine"}
# Zeroed in an added block so that it starts as the identity (see the module docstring).
ZEROED = {"attn.proj_c.weight", "attn.proj_p.weight", "ffn.pout.weight"}
BRANCH_MIX = {"attn.w1", "attn.w2"}
BLOCK_KEY = re.compile(r"^restorer\.(\w+)\.(\d+)\.(.+)$")


def stack_depths(cfg: Config) -> dict[str, int]:
    """Blocks per Dsa stack of the restorer, read off the module that `cfg` builds (so the
    mapping from config to stacks lives only in `Restorer.__init__`)."""
    return {name: len(m) for name, m in Restorer(cfg).named_children() if isinstance(m, DsaStack)}


def check_growable(src: Config, dst: Config) -> None:
    for f in fields(Config):
        if f.name not in GROWABLE and getattr(src, f.name) != getattr(dst, f.name):
            raise ValueError(f"{f.name} differs ({getattr(src, f.name)} against {getattr(dst, f.name)}): "
                             "only blocks and refine can grow")
    old, new = stack_depths(src), stack_depths(dst)
    shrunk = [s for s in old if new[s] < old[s]]
    if shrunk:
        raise ValueError(f"the target has fewer blocks in {', '.join(shrunk)}: growing never drops a block")


def grow(ck: dict, target: Config, note: str) -> dict:
    """The checkpoint `ck` with the blocks `target` adds, each starting as the identity."""
    src_cfg = Config(**ck["config"])
    check_growable(src_cfg, target)
    depth = stack_depths(src_cfg)
    old = ck["model"]
    grown = {}
    for k, fresh in AllInOne(target).state_dict().items():
        if k in old:
            if old[k].shape != fresh.shape:
                raise ValueError(f"{k}: shape {tuple(old[k].shape)} against {tuple(fresh.shape)}")
            grown[k] = old[k].clone()
            continue
        m = BLOCK_KEY.match(k)
        if not m or m.group(1) not in depth or int(m.group(2)) < depth[m.group(1)]:
            raise ValueError(f"{k}: not in the source checkpoint and not part of an added block")
        stack, rest = m.group(1), m.group(3)
        t = old[f"restorer.{stack}.{depth[stack] - 1}.{rest}"].clone()
        if rest in ZEROED:
            t.zero_()
        elif rest in BRANCH_MIX:
            t.fill_(0.5)
        grown[k] = t
    unused = old.keys() - grown.keys()
    if unused:
        raise ValueError(f"the target config has no place for {sorted(unused)[:3]}")
    out = {k: v for k, v in ck.items() if k not in ("opt", "ema", "ema_steps")}
    out["config"] = asdict(target)
    out["model"] = grown
    out["provenance"] = {**ck.get("provenance", {}), "note": note}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", type=Path, required=True, help="trained checkpoint to grow")
    ap.add_argument("--config", required=True, help="target config name in training/model.py (e.g. medium)")
    ap.add_argument("--out", type=Path, required=True, help="grown compact checkpoint")
    ap.add_argument("--note", help="provenance note (default: names the source, its config and iteration)")
    a = ap.parse_args(argv)
    try:
        target = get_config(a.config)
    except KeyError:
        sys.exit(f"error: no config named {a.config!r} in training/model.py")
    ck = torch.load(a.src, map_location="cpu", weights_only=False)
    note = a.note or (
        f"grown to {target.name} (blocks {target.blocks}, refine {target.refine}) from {a.src} "
        f"({ck['config']['name']}, iteration {ck.get('iteration')}); added blocks start as the identity"
    )
    try:
        grown = grow(ck, target, note)
    except ValueError as e:
        sys.exit(f"error: {e}")
    atomic_save(grown, a.out)
    added = sum(v.numel() for v in grown["model"].values()) - sum(v.numel() for v in ck["model"].values())
    print(f"wrote {a.out} (iteration {grown['iteration']}, {added / 1e6:.2f} M parameters added): {note}")


if __name__ == "__main__":
    main()
