"""Time PyTorch running a model file's weights: the reference point of the Rust benchmark.

    python training/bench_torch.py MODEL.safetensors --size 321x481 [--repeat 3] [--threads N]

Runs `restore` (and `classify` on one crop) through the modules rebuilt from the file
(graph.py's interpreter: the same ops as training), after one warm-up run, and prints
one JSON line: {"restore_s": median seconds, "classify_s": ..., "threads": ...}. A model
without a Prompt Net (an imported PromptIR or Restormer) has no `classify`: its
"classify_s" is null and `restore` takes the image alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch  # noqa: E402

from .graph import FileModel, run_function  # noqa: E402


def timed(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@torch.no_grad()
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--size", default="321x481", help="HxW")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    h, w = (int(v) for v in a.size.split("x"))
    m = FileModel(a.model)
    img = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    k = len(m.doc["degradations"])
    inputs = {"image": img, "probs": torch.full((1, k, 1, 1), 0.5)} if k else {"image": img}
    restore_s = timed(lambda: run_function(m.doc, m.tensors, "restore", inputs), a.repeat)
    classify_s = None
    if k:
        s = int(m.doc["prompt"]["crop"])
        crop = img[:, :, :s, :s] if h >= s and w >= s else torch.rand(1, 3, s, s)
        classify_s = timed(lambda: run_function(m.doc, m.tensors, "classify", {"crop": crop}), a.repeat)
    print(json.dumps({"model": str(a.model), "size": [h, w], "restore_s": restore_s, "classify_s": classify_s, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
