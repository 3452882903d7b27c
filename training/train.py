"""Train the restoration model and its Prompt Net (MODEL.md section 4).

    python training/train.py --config small --iters 20000 --out training/runs/small
    torchrun --nproc_per_node=8 training/train.py --device cuda ...   # multi-GPU (DDP)

The paper's recipe: AdamW lr 2e-4, linear warm-up then cosine annealing, L1 loss on
random crops with flips and 90-degree rotations (training/data.py), batch 4 or more.
`--mse-weight W` adds W * MSE to the L1 loss: with L1 alone the small model never learned
to remove rain streaks (docs/training.md, "Recipe": L1 is minimised by leaving a pixel
alone until the net is more than 50% sure it is a streak, so sparse streaks sit on a
plateau; the squared term rewards removing them in proportion to that confidence).
The Prompt Net is trained jointly with binary cross-entropy on the same degraded
patches. The restorer receives the Prompt Net's probabilities, detached, or - per
sample, with a probability that falls linearly from 1 to 0 over the first 40% of the
iterations - the ground-truth labels, so it first learns what each prompt means and
then learns to live with the classifier's mistakes. `--part restorer` trains the restorer
alone against a frozen Prompt Net run as at inference (BatchNorm on its running
statistics), for when the shipped Prompt Net is kept; `--ema D` keeps a moving average of
the weights, which is what --save-compact writes.

Resumes from <out>/last.pt when it exists, with that run's settings (batch, patch, lr,
warm-up, loss, part, EMA, mix, probability jitter) unless the command gives others. Logs
JSON lines to <out>/log.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tqdm import tqdm  # noqa: E402

from . import data as D  # noqa: E402
from .model import AllInOne, Config, get_config  # noqa: E402

VAL_SETS = ["noise15", "noise25", "rain", "rain_indep", "haze", "haze_hsts", "clean"]
# Settings that define a run, with their defaults: resuming <out>/last.pt keeps the run's
# own values for those the command leaves out.
RUN_SETTINGS = {"batch": 4, "patch": 128, "lr": 2e-4, "warmup": 0.075, "mse_weight": 0.0, "psnr_weight": 0.0,
                "part": "all", "ema": 0.0, "mix": "", "prob_jitter": 0.0, "jitter_span": 0.6}
# Floor under each patch's MSE in the PSNR term (1e-4: 40 dB), so that a clean patch the
# net already passes through at 45 dB does not take over the batch's gradient.
PSNR_TERM_FLOOR = 1e-4
RAIN_COLUMN = torch.tensor([[float(k == "rain") for k in D.DEGRADATIONS]])


def jitter_probs(probs: torch.Tensor, labels: torch.Tensor, share: float, span: float) -> torch.Tensor:
    """Wrong probabilities, as the Prompt Net gives them on photos unlike its training data.

    For a `share` of the samples, every type the sample lacks gets max(p, U(0, span)) and
    every type it has min(p, 1 - U(0, span)); the other samples keep theirs. Why: on real
    photos the Prompt Net puts haze at 0.3-0.7 on some clear noisy photos, and a restorer
    that trusts that number dehazes them; trained with such numbers it has to look at the
    image too. With span 0.6 the ranges of present (>= 0.4) and absent (<= 0.6) types
    overlap, so the probability alone does not decide, as it does not on real photos.
    """
    if share <= 0:
        return probs
    pick = torch.rand(probs.shape[0], 1, device=probs.device) < share
    u = torch.rand_like(probs) * span
    jittered = torch.where(labels > 0.5, torch.minimum(probs, 1.0 - u), torch.maximum(probs, u))
    return torch.where(pick, jittered, probs)


def lr_at(it: int, total: int, warmup: int, base: float) -> float:
    if it < warmup:
        return base * (it + 1) / warmup
    t = (it - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def save_compact(src: Path, dst: Path) -> None:
    """Weights, schedule position and provenance without the optimizer state (a third
    of the size): what gets committed so that training can resume from a fresh checkout.

    When the run kept an exponential moving average of its weights (--ema), the compact
    checkpoint holds the averaged weights: they are what gets exported and shipped, and a
    later run resumes from them (its average starts again from them)."""
    ck = torch.load(src, map_location="cpu", weights_only=False)
    ck.pop("opt", None)
    ema = ck.pop("ema", None)
    if ema is not None:
        ck["model"] = {k: ema[k].to(v.dtype) if k in ema else v for k, v in ck["model"].items()}
        ck["provenance"] = {**ck.get("provenance", {}), "ema_decay": ck["args"].get("ema")}
    atomic_save(ck, dst)
    print(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB, iteration {ck['iteration']})")


def restoration_losses(restored: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L1, MSE, PSNR term) of a restored batch against the clean one; the loss is
    L1 + w * MSE + v * PSNR term.

    The PSNR term is the mean over patches of 10 log10(MSE_i + floor), i.e. minus each
    patch's PSNR in dB: what the evaluation averages. Why: the batch-mean L1 and MSE weigh
    a pixel by the size of its error (MSE) or not at all (L1), so a sigma-50 or haze patch
    steers the step far more than a sigma-15 patch whose errors are small; the gradient of
    log MSE_i is that of MSE_i divided by MSE_i, so every patch counts by its relative
    improvement, as a dB gained counts the same on any image in the validation table."""
    per_patch = (restored - clean).pow(2).reshape(len(restored), -1).mean(1)
    psnr_term = (10.0 / math.log(10.0)) * torch.log(per_patch + PSNR_TERM_FLOOR).mean()
    return F.l1_loss(restored, clean), per_patch.mean(), psnr_term


class WeightAverage:
    """Exponential moving average of a model's floating-point state (Polyak averaging).

    Why: at batch 4 the weights wander from step to step; in-training validation of the
    synthetic haze crops swung by 3-5 dB between checkpoints 500 iterations apart (runs of
    2026-12-03 and 2026-12-04, docs/training-history.md). The average over the last
    ~1/(1-decay) steps keeps what the steps agree on. The decay ramps up as (1+n)/(10+n)
    so a fresh average is not dominated by its starting point. Buffers that are not
    floating point (BatchNorm's counter) are copied.
    """

    def __init__(self, model: torch.nn.Module, decay: float, state: dict | None = None, steps: int = 0):
        self.decay, self.steps = decay, steps
        live = model.state_dict()
        src = state if state is not None else live
        self.state = {k: src[k].detach().clone().float() for k in live if live[k].is_floating_point()}
        self._pairs = None

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        live = model.state_dict()
        if self._pairs is None:
            keys = list(self.state)
            self._pairs = (keys, [self.state[k] for k in keys])
        keys, avg = self._pairs
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(avg, [live[k].detach().float() for k in keys], 1.0 - d)
        self.steps += 1

    def copy_to(self, model: torch.nn.Module) -> None:
        live = model.state_dict()
        model.load_state_dict({k: self.state[k].to(v.dtype) if k in self.state else v for k, v in live.items()})


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return img[y : y + size, x : x + size]


@torch.no_grad()
def validate(model: AllInOne, valsets: Path, per_set: int, crop: int, device) -> dict:
    """Mean PSNR (restored and input) and Prompt Net accuracy per validation set.

    A subset (first `per_set` images, centre crops) keeps this cheap enough to run during
    CPU training; training/evaluate.py measures the full sets.
    """
    model.eval()
    out = {}
    for name in VAL_SETS:
        folder = valsets / name
        if not (folder / "labels.json").exists():
            continue
        items = D.load_valset(folder)[:per_set]
        ps_in, ps_out, correct, total = [], [], 0, 0
        for it in items:
            x = D.to_tensor(center_crop(it.input, crop)).to(device)
            y = center_crop(it.target, crop)
            probs = model.classify(x)
            restored = model.restorer(x, probs).clamp(0, 1)
            ps_out.append(D.psnr(restored[0].permute(1, 2, 0).cpu().numpy(), y))
            ps_in.append(D.psnr(center_crop(it.input, crop), y))
            pred = (probs[0].cpu().numpy() >= 0.5).astype(np.float32)
            correct += int((pred == it.labels).sum())
            total += len(it.labels)
        out[name] = {"psnr": float(np.mean(ps_out)), "psnr_input": float(np.mean(ps_in)), "label_acc": correct / max(total, 1)}
    model.train()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small")
    ap.add_argument("--out", type=Path, default=Path("training/runs/small"))
    ap.add_argument(
        "--iters",
        type=int,
        default=None,
        help="length of the schedule (total iterations; default 20000). When resuming, the checkpoint's "
        "schedule is kept unless this is given, which stretches the cosine to the new length",
    )
    ap.add_argument(
        "--fresh-schedule",
        type=int,
        default=0,
        help="run N more iterations on a schedule of their own (warm-up + cosine over those N) instead of "
        "continuing the checkpoint's; repeating the same command resumes that schedule (a different N "
        "starts another from the checkpoint's iteration)",
    )
    ap.add_argument("--stop-after", type=int, default=0, help="stop this run after N more iterations (0: run to the end)")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=0,
        help="stop (with a checkpoint) once this run has trained for S seconds (0: no limit); for a "
        "time-limited GPU run. The schedule is not changed",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="DataLoader processes that synthesize batches (0: in the training process, as before). A GPU "
        "step outruns one process's numpy synthesis",
    )
    ap.add_argument("--batch", type=int, help="patches per step (default 4)")
    ap.add_argument("--patch", type=int, help="patch side in pixels (default 128)")
    ap.add_argument("--lr", type=float, help="peak learning rate (default 2e-4)")
    ap.add_argument("--warmup", type=float, help="warm-up share of the schedule (default 0.075: 15 of 200 epochs)")
    ap.add_argument("--mse-weight", type=float, help="restoration loss = L1 + W * MSE (default 0: the paper's L1)")
    ap.add_argument(
        "--psnr-weight",
        type=float,
        help="adds V * mean over patches of 10 log10(MSE_i + 1e-4), minus each patch's PSNR in dB, so that "
        "low-noise patches count as much per dB as heavily degraded ones (default 0: off)",
    )
    ap.add_argument(
        "--part",
        choices=["all", "prompt", "restorer"],
        help="all: restorer and Prompt Net jointly; prompt: only the Prompt Net (BCE), the restorer frozen and "
        "not run; restorer: only the restorer, fed the frozen Prompt Net's probabilities (eval mode, as at "
        "inference), which saves the classifier's backward pass when its weights are kept anyway (default all)",
    )
    ap.add_argument(
        "--ema",
        type=float,
        help="keep an exponential moving average of the weights with this decay (e.g. 0.999); validation "
        "reports it beside the raw weights, and --save-compact writes it (default 0: off)",
    )
    ap.add_argument("--gt-label-share", type=float, default=0.4, help="share of the schedule over which GT labels fade out")
    ap.add_argument(
        "--prob-jitter",
        type=float,
        help="share of samples whose probabilities the restorer gets wrong on purpose (jitter_probs: absent "
        "types raised to U(0, span), present ones lowered to 1 - U(0, span)), so that it tolerates a Prompt "
        "Net that is wrong on real photos (default 0: off)",
    )
    ap.add_argument("--jitter-span", type=float, help="how far --prob-jitter moves a probability (default 0.6)")
    ap.add_argument(
        "--mix",
        help="sample mix, e.g. 'clean=0.2,single=0.6,pair=0.15,triple=0.05,rain=2,decoy=0.2' "
        "(default: the recipe's 10%% clean, 60%% one type, 25%% two, 5%% three, types equally likely, "
        "no decoys; decoy: the share of rain-free samples with rain-like streaks as content, data.add_decoy; "
        "layered: the share of rain drawn as 1-3 layers of real-rain range, data.sample_rain_layers; hardneg: the "
        "share of samples with haze- or rain-like content, data.add_hard_negative)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave the default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (CPU with AVX-512 bf16, or CUDA)")
    ap.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="NHWC tensors for training (same function; on the 2-core CPU with --bf16 a step of the small "
        "config took 1.74 s instead of 1.97 s: oneDNN's depthwise convolutions are much faster in NHWC)",
    )
    ap.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the restorer's training step (fixed shapes: compiled once, 4-5 min on the "
        "2-core CPU; a small-config step then took 0.95 s instead of 1.45 s there)",
    )
    ap.add_argument("--val-every", type=int, default=1000)
    ap.add_argument("--val-per-set", type=int, default=4)
    ap.add_argument("--val-crop", type=int, default=256)
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--valsets", type=Path, default=D.REPO / "training" / "runs" / "valsets")
    ap.add_argument("--data-root", type=Path, default=D.DATA_ROOT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", type=Path, help="compact checkpoint to resume from when <out>/last.pt does not exist")
    ap.add_argument("--save-compact", type=Path, help="write <out>/last.pt as a compact checkpoint (weights only) and exit")
    a = ap.parse_args(argv)
    if a.save_compact:
        # A separate mode, not an option of a training run: say so rather than dying in
        # torch.load when someone adds it to a training command.
        if not (a.out / "last.pt").is_file():
            ap.error(f"--save-compact compacts an existing run: {a.out / 'last.pt'} does not exist")
        save_compact(a.out / "last.pt", a.save_compact)
        return

    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if ddp:
        torch.distributed.init_process_group("nccl" if a.device == "cuda" else "gloo")
        rank = torch.distributed.get_rank()
        if a.device == "cuda":
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    device = torch.device(a.device if a.device != "cuda" else f"cuda:{torch.cuda.current_device()}")
    if a.threads:
        torch.set_num_threads(a.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch and batch sizes: pick the fastest kernels once
        torch.backends.cuda.matmul.allow_tf32 = True
    a.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(a.seed)

    ckpt_path = a.out / "last.pt"
    src = ckpt_path if ckpt_path.exists() else a.init
    resume = torch.load(src, map_location="cpu", weights_only=False) if src else None
    # A resumed run keeps its own settings unless the command changes them; a run started
    # from another run's weights (--init) starts from the defaults.
    own = resume["args"] if resume and src == ckpt_path else {}
    for k, default in RUN_SETTINGS.items():
        if getattr(a, k) is None:
            setattr(a, k, own.get(k, default))
    cfg = Config(**resume["config"]) if resume else get_config(a.config)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = AllInOne(cfg).to(device, memory_format=fmt)  # before the optimizer and the resume, so both keep NHWC
    if a.part == "prompt":
        model.restorer.requires_grad_(False)
    if a.part == "restorer":
        model.prompt_net.requires_grad_(False)
    groups = [list(model.restorer.parameters()), list(model.prompt_net.parameters())]
    # fused: one kernel for the whole update on CUDA instead of several per tensor
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4, fused=device.type == "cuda")
    start, wall, rewarm_from = 0, 0.0, None
    a.sched_start = 0  # the schedule's iteration 0 (not 0 after --fresh-schedule)
    if resume:
        model.load_state_dict(resume["model"])
        if "opt" in resume:
            opt.load_state_dict(resume["opt"])
        else:  # compact checkpoint: Adam moments start afresh, so warm the rate up again
            rewarm_from = resume["iteration"]
        start, wall = resume["iteration"], resume.get("wall_s", 0.0)
        a.sched_start = resume["args"].get("sched_start", 0)
        # Repeating the command that started a --fresh-schedule run resumes that schedule
        # (also after a resume without the flag, which recorded 0): <out>/last.pt wins over
        # --init, so only a different N starts another schedule on a run that exists.
        own_length = own.get("iters", 0) - own.get("sched_start", 0)
        same_fresh_run = src == ckpt_path and a.fresh_schedule in (own.get("fresh_schedule"), own_length)
        if a.fresh_schedule and not same_fresh_run:
            a.sched_start, a.iters, rewarm_from = start, start + a.fresh_schedule, None
        elif a.iters is None:
            a.iters = resume["args"]["iters"]
        elif a.iters <= start:
            raise SystemExit(f"--iters {a.iters} is not past the checkpoint's iteration {start}")
        if rank == 0:
            print(f"resumed {src} at iteration {start}/{a.iters}")
    if a.iters is None:
        a.iters = 20000
    average = None
    if a.ema:
        kept = resume.get("ema") if resume and "opt" in resume else None
        average = WeightAverage(model, a.ema, kept, resume.get("ema_steps", 0) if kept is not None else 0)
        shadow = AllInOne(cfg).to(device, memory_format=fmt)  # the average, loaded for validation
    net = torch.nn.parallel.DistributedDataParallel(model) if ddp else model
    # Compiled for the training step only: validation runs other shapes on `model`, and
    # the compiled wrapper shares the parameters, so checkpoints do not change.
    restorer_step = torch.compile(model.restorer) if a.compile else model.restorer

    images = D.load_images(a.data_root)
    mix = D.Mix.parse(a.mix)
    if a.workers:
        dataset = D.TrainBatches(images, a.batch, a.patch, [a.seed, rank, start], mix=mix)
        loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=a.workers,
                                             pin_memory=device.type == "cuda", prefetch_factor=4,
                                             persistent_workers=True)
        stream = iter(loader)
    else:  # the draws of every run before --workers existed
        stream = D.batches(images, a.batch, a.patch, np.random.default_rng([a.seed, rank, start]), mix=mix)
    end = a.iters if not a.stop_after else min(a.iters, start + a.stop_after)
    warmup = max(1, int(a.warmup * (a.iters - a.sched_start)))
    log = open(a.out / "log.jsonl", "a") if rank == 0 else None
    bar = tqdm(range(start, end), initial=start, total=a.iters, disable=rank != 0, dynamic_ncols=True)
    ema = None
    t0 = time.time()

    def freeze_modes():
        # A frozen Prompt Net runs as at inference: BatchNorm on its running statistics.
        if a.part == "restorer":
            model.prompt_net.eval()

    freeze_modes()

    def checkpoint(it):
        if rank != 0:
            return
        state = {
            "config": asdict(cfg),
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "iteration": it,
            "wall_s": wall + time.time() - t0,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
            **({"ema": average.state, "ema_steps": average.steps} if average else {}),
            "provenance": {
                "trained_by": "training/train.py",
                "data": "shared/data/train (bsd390, train400, urban60) with synthetic noise/rain/haze",
                "iterations": it,
                "batch": a.batch * (torch.distributed.get_world_size() if ddp else 1),
                "patch": a.patch,
                "device": str(device),
                "wall_s": round(wall + time.time() - t0),
            },
        }
        atomic_save(state, ckpt_path)

    for it in bar:
        rewarm = 1.0 if rewarm_from is None else min(1.0, (it - rewarm_from + 1) / 200)
        for g in opt.param_groups:
            g["lr"] = lr_at(it - a.sched_start, a.iters - a.sched_start, warmup, a.lr) * rewarm
        deg, clean, labels, decoy = (t.to(device, non_blocking=True) for t in next(stream))
        deg = deg.contiguous(memory_format=fmt)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.bf16):
            prompt_net = net.prompt_net if not ddp else net.module.prompt_net
            with torch.set_grad_enabled(a.part != "restorer"):
                logits = prompt_net.logits(deg)
            bce = F.binary_cross_entropy_with_logits(logits.float(), labels)  # logged only when frozen
            if a.part in ("all", "restorer"):
                p_gt = max(0.0, 1.0 - it / max(1.0, a.gt_label_share * a.iters))
                use_gt = (torch.rand(deg.shape[0], 1, device=device) < p_gt).float()
                probs = use_gt * labels + (1 - use_gt) * torch.sigmoid(logits.detach().float())
                # A decoy's streaks are content: the Prompt Net cannot tell them from rain
                # (they are drawn by the same synthesis), so the restorer is told rain = 0.
                probs = probs * (1.0 - decoy.float()[:, None] * RAIN_COLUMN.to(device))
                # After the decoys' rain = 0, so a jittered decoy gets rain in [0, span].
                probs = jitter_probs(probs, labels, a.prob_jitter, a.jitter_span)
                l1, mse, psnr_term = restoration_losses(restorer_step(deg, probs).float(), clean)
            else:
                l1 = mse = psnr_term = torch.zeros((), device=device)
        loss = l1 + a.mse_weight * mse + a.psnr_weight * psnr_term + (bce if a.part != "restorer" else 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # Each part is clipped on its own: one global norm would let a spike of the
        # classifier's BCE gradient shrink the restorer's step (and the other way round).
        norms = [torch.nn.utils.clip_grad_norm_(ps, 1.0) for ps in groups]
        opt.step()
        if average:
            average.update(model)
        # The running means stay on the device and are read every 10 iterations: reading
        # them each step would make the CPU wait for the GPU to drain its queue.
        # (A frozen part's norm is a CPU zero: clip_grad_norm_ of no gradients.)
        vals = torch.stack([l1.detach(), mse.detach(), bce.detach(), *(n.to(device) for n in norms),
                            psnr_term.detach()]).double()
        ema = vals if ema is None else 0.98 * ema + 0.02 * vals
        done = it + 1
        if done % 10 == 0 or done == start + 1:
            e = ema.tolist()
            bar.set_postfix(l1=f"{e[0]:.4f}", mse=f"{e[1]:.5f}", bce=f"{e[2]:.3f}", lr=f"{opt.param_groups[0]['lr']:.2e}")
        if log and (done % 50 == 0):
            e = ema.tolist()
            log.write(json.dumps({"it": done, "l1": e[0], "mse": e[1], "bce": e[2],
                                  "grad_restorer": e[3], "grad_prompt": e[4], "psnr_term": e[5],
                                  "lr": opt.param_groups[0]["lr"], "wall_s": round(wall + time.time() - t0, 1)}) + "\n")
            log.flush()
        out_of_time = bool(a.time_limit) and time.time() - t0 >= a.time_limit
        if ddp and a.time_limit:  # every rank must stop at the same iteration
            flag = torch.tensor(float(out_of_time), device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        if done % a.ckpt_every == 0 or done == end or out_of_time:
            checkpoint(done)
        if rank == 0 and (done % a.val_every == 0 or done == a.iters):
            v = validate(model, a.valsets, a.val_per_set, a.val_crop, device)
            freeze_modes()
            summary = " ".join(f"{k}:{x['psnr']:.2f}/{x['psnr_input']:.2f}dB acc{x['label_acc']:.2f}" for k, x in v.items())
            tqdm.write(f"[val it {done}] {summary}")
            record = {"it": done, "val": v}
            if average:
                average.copy_to(shadow)
                record["val_ema"] = validate(shadow, a.valsets, a.val_per_set, a.val_crop, device)
                summary = " ".join(f"{k}:{x['psnr']:.2f}dB acc{x['label_acc']:.2f}" for k, x in record["val_ema"].items())
                tqdm.write(f"[val it {done} ema] {summary}")
            log.write(json.dumps(record) + "\n")
            log.flush()
        if out_of_time:
            if rank == 0:
                tqdm.write(f"time limit of {a.time_limit:.0f} s reached at iteration {done}")
            break
    if ddp:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
