"""Time PyTorch running a model file's weights: the reference point of the Rust benchmark.

    python training/bench_torch.py MODEL.safetensors --size 321x481 [--repeat 3] [--threads N]
    python training/bench_torch.py MODEL.safetensors --device cuda --size 321x481 --size 1155x1732 --dtype f32 --dtype f16

Runs `restore` (and `classify` on one crop) through the modules rebuilt from the file
(graph.py's interpreter: the same ops as training, PyTorch eager), after one warm-up run,
and prints one JSON line per size and dtype: {"restore_s": median seconds, "restore_mean_s",
"restore_min_s", "classify_s": ..., "threads": ...}. A model without a Prompt Net (an
imported PromptIR or Restormer) has no `classify`: its "classify_s" is null and `restore`
takes the image alone.

`--device cuda` times the GPU the way `wgpu-restore bench` times its device: each run
starts from the image in host memory and ends with the result back in host memory (the
upload, the forward and the download, synchronised). `--dtype f16` stores weights and
values as float16 (`FileModel(dtype=float16)`), like `--precision f16`; PyTorch's own
defaults are kept otherwise (TF32 for f32 convolutions on the GPU, reported as "tf32_conv").
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

DTYPES = {"f32": torch.float32, "f16": torch.float16}


def timed(fn, repeat, device):
    """Times of `repeat` runs after one warm-up; on a GPU each waits for the device."""

    def once():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    once()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        once()
        times.append(time.perf_counter() - t)
    return times


def parse_size(s: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in s.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{s}` is not HxW") from None
    return h, w


@torch.no_grad()
def bench(m: FileModel, h: int, w: int, dtype: torch.dtype, device: torch.device, repeat: int) -> dict:
    # The image lives in host memory as float32, as wgpu-restore's decoded image does.
    img = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    k = len(m.doc["degradations"])
    probs = torch.full((1, k, 1, 1), 0.5, dtype=dtype, device=device)

    def restore():
        x = img.to(device=device, dtype=dtype)
        inputs = {"image": x, "probs": probs} if k else {"image": x}
        return run_function(m.doc, m.tensors, "restore", inputs)["restored"].float().cpu()

    times = timed(restore, repeat, device)
    classify_s = None
    if k:
        s = int(m.doc["prompt"]["crop"])
        crop = img[:, :, :s, :s] if h >= s and w >= s else torch.rand(1, 3, s, s)

        def classify():
            x = crop.to(device=device, dtype=dtype)
            return run_function(m.doc, m.tensors, "classify", {"crop": x})["probs"].float().cpu()

        classify_s = statistics.median(timed(classify, repeat, device))
    return {
        "size": [h, w],
        "restore_s": statistics.median(times),
        "restore_mean_s": statistics.fmean(times),
        "restore_min_s": min(times),
        "runs": repeat,
        "classify_s": classify_s,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--size", type=parse_size, action="append", help="HxW (repeat for several; default 321x481)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), action="append", help="f32 or f16 (repeat for both; default f32)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: PyTorch sees no CUDA device")
    sizes = a.size or [(321, 481)]
    for name in a.dtype or ["f32"]:
        m = FileModel(a.model, dtype=DTYPES[name])
        m.tensors = {k: v.to(device) for k, v in m.tensors.items()}
        for h, w in sizes:
            r = bench(m, h, w, DTYPES[name], device, a.repeat)
            info = {
                "model": str(a.model),
                "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                "dtype": name,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
            if device.type == "cuda":
                info["tf32_conv"] = torch.backends.cudnn.allow_tf32
                info["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
            print(json.dumps({**info, **r}), flush=True)
        del m
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
