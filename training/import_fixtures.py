"""Golden fixtures of the checkpoint importer, under tests/fixtures/import/ (written by
fixtures.py, with the same byte-identity discipline: numpy draws, f64 references).

For each tiny network (seeded random weights at reduced width and depth, as the published
checkpoints' containers hold them):
- the checkpoint: `promptir_tiny.ckpt` (a Lightning checkpoint as PromptIR's train.py saves
  it: `net.`-prefixed state dict, AdamW state, scheduler, callback and loop state) and
  `restormer_with_bias/deraining.pth`, `restormer_bias_free/real_denoising.pth` (the
  authors' `{"params": ...}`; their file names tell the importer the variant);
- `<name>.safetensors`: the model file import_checkpoint.py writes from it (f16), which the
  Rust importer must reproduce byte for byte;
- `<name>_ref.safetensors`: `image_HxW` and `restored_HxW` [3, H, W] at 24x32 and 29x37
  (not a multiple of 8), the port's `restore` (pad, forward, crop; not clamped) in f64.
"""

from __future__ import annotations

import io
import math
import struct
import tempfile
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import torch

from .graph import write_safetensors
from .import_checkpoint import import_checkpoint
from .promptir import PromptIR
from .restormer import Restormer

REF_SIZES = [(24, 32), (29, 37)]
# Reduced width and depth; every head count divides its channels with at least 2 channels a
# head (with 1, attention is the identity and would hide bugs). dim 2 and 3 give FFN widths
# where int() and round() differ (int(12 * 2.66) = 31, int(3 * 2.66) = 7).
TINY = {
    "promptir_tiny": {
        "arch": "promptir",
        "file": "promptir_tiny.ckpt",
        "hp": dict(dim=2, blocks=[1, 1, 1, 1], refinement=2, heads=[1, 2, 4, 8], prompt_dims=[4, 8, 12], prompt_len=3, prompt_sizes=[8, 6, 4]),
        "seed": 301,
    },
    "restormer_with_bias": {
        "arch": "restormer",
        "file": "restormer_with_bias/deraining.pth",
        "hp": dict(dim=2, blocks=[1, 1, 1, 1], refinement=1, heads=[1, 1, 2, 4], layer_norm="with_bias"),
        "seed": 302,
    },
    # Convolution biases too (no published checkpoint has them; the format allows them).
    "restormer_bias_free": {
        "arch": "restormer",
        "file": "restormer_bias_free/real_denoising.pth",
        "hp": dict(dim=4, blocks=[2, 1, 1, 1], refinement=2, heads=[1, 2, 2, 4], layer_norm="bias_free", bias=True),
        "seed": 303,
    },
}


def tiny_port(name: str, gen):
    spec = TINY[name]
    port = (PromptIR if spec["arch"] == "promptir" else Restormer)(**spec["hp"])
    return randomize(port, gen)


def randomize(port, gen):
    """Seeded weights that keep activations O(1); layer norms, temperatures and prompts are
    moved off their initial values so that those paths are tested too."""
    with torch.no_grad():
        for name, p in port.named_parameters():
            if name.endswith("prompt_param"):
                p.copy_(gen.rand(*p.shape))
            elif name.endswith("temperature"):
                p.copy_(0.5 + 2.0 * gen.rand(*p.shape))
            elif p.dim() >= 2:
                # Residual branches (project_out) damped: with a few channels a layer norm
                # of a growing residual stream meets small variances, where f32 and the f64
                # references part by 1e-4 and more; at 0.3 they agree within 2e-5.
                damp = 0.3 if ".project_out." in name else 1.0
                p.copy_(damp * gen.randn(*p.shape) / math.sqrt(p[0].numel()))
            elif name.endswith("weight"):  # layer norm scales
                p.copy_(0.5 + gen.rand(*p.shape))
            else:  # biases
                p.copy_(0.1 * gen.randn(*p.shape))
        port.output.weight.mul_(0.5)  # keep the residual visible next to the image
    return port.eval()


# ---------------------------------------------------------------- containers


def progress(n: int, started: bool = True) -> dict:
    p = {"ready": n, "completed": n}
    if started:
        p.update(started=n, processed=n)
    return p


def lightning_checkpoint(port, gen, epoch: int = 3, steps_per_epoch: int = 40) -> dict:
    """What PromptIR's train.py (Lightning, AdamW, LinearWarmupCosineAnnealingLR,
    ModelCheckpoint) saves, filled with the port's weights and seeded optimizer state."""
    step = epoch * steps_per_epoch
    params = list(port.state_dict().items())  # PromptIR has no buffers: the optimizer's order
    lr = 2e-4 * (epoch + 1) / 15  # linear warmup over 15 epochs
    batch = {"total": progress(step), "current": progress(steps_per_epoch), "is_last_batch": True}
    idle = {"total": progress(0), "current": progress(0), "is_last_batch": False}
    return {
        "epoch": epoch,
        "global_step": step,
        "pytorch-lightning_version": "2.1.0",
        "state_dict": OrderedDict((f"net.{k}", v.detach().clone()) for k, v in params),
        "loops": {
            "fit_loop": {
                "state_dict": {},
                "epoch_loop.state_dict": {"_batches_that_stepped": step},
                "epoch_loop.batch_progress": batch,
                "epoch_loop.scheduler_progress": {"total": progress(epoch, False), "current": progress(epoch, False)},
                "epoch_loop.automatic_optimization.state_dict": {},
                "epoch_loop.automatic_optimization.optim_progress": {
                    "optimizer": {
                        "step": {"total": progress(step, False), "current": progress(steps_per_epoch, False)},
                        "zero_grad": {"total": progress(step), "current": progress(steps_per_epoch)},
                    }
                },
                "epoch_loop.manual_optimization.state_dict": {},
                "epoch_loop.manual_optimization.optim_step_progress": {"total": progress(0, False), "current": progress(0, False)},
                "epoch_loop.val_loop.state_dict": {},
                "epoch_loop.val_loop.batch_progress": idle,
                "epoch_progress": {"total": progress(epoch + 1), "current": progress(epoch + 1)},
            },
            "validate_loop": {"state_dict": {}, "batch_progress": idle},
            "test_loop": {"state_dict": {}, "batch_progress": idle},
            "predict_loop": {"state_dict": {}, "batch_progress": {"total": progress(0), "current": progress(0)}},
        },
        "callbacks": {
            "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, 'train_time_interval': None}": {
                "monitor": None,
                "best_model_score": None,
                "best_model_path": f"train_ckpt/epoch={epoch}-step={step}.ckpt",
                "current_score": None,
                "dirpath": "train_ckpt",
                "best_k_models": {},
                "kth_best_model_path": "",
                "kth_value": torch.tensor(math.inf),
                "last_model_path": "",
            }
        },
        "optimizer_states": [
            {
                "state": {
                    i: {
                        "step": torch.tensor(float(step)),
                        "exp_avg": 1e-3 * gen.randn(*p.shape),
                        "exp_avg_sq": (1e-3 * gen.randn(*p.shape)) ** 2,
                    }
                    for i, (_, p) in enumerate(params)
                },
                "param_groups": [
                    {
                        "lr": lr,
                        "betas": (0.9, 0.999),
                        "eps": 1e-08,
                        "weight_decay": 0.01,
                        "amsgrad": False,
                        "foreach": None,
                        "maximize": False,
                        "capturable": False,
                        "differentiable": False,
                        "fused": None,
                        "initial_lr": 2e-4,
                        "params": list(range(len(params))),
                    }
                ],
            }
        ],
        "lr_schedulers": [
            {
                "warmup_epochs": 15,
                "max_epochs": 150,
                "warmup_start_lr": 0.0,
                "eta_min": 0.0,
                "base_lrs": [2e-4],
                "last_epoch": epoch,
                "verbose": False,
                "_step_count": epoch + 1,
                "_get_lr_called_within_step": False,
                "_last_lr": [lr],
            }
        ],
    }


def params_checkpoint(port) -> dict:
    """The authors' Restormer `.pth`: the state dict under `params`."""
    return {"params": OrderedDict((k, v.detach().clone()) for k, v in port.state_dict().items())}


def save_torch(obj, path: Path, archive: str | None = None) -> None:
    """torch.save, byte-deterministic.

    torch writes a random `.data/serialization_id` record into the zip archive; it is
    replaced by a fixed one (same length, CRC-32 updated in the data descriptor and the
    central directory). `archive`: the folder name inside the zip, which torch takes from
    the file name it saves to ("archive" for a buffer); real checkpoints carry whatever name
    they were first saved under, so a reader must not assume it.
    """
    if archive is None:
        buf = io.BytesIO()
        torch.save(obj, buf)
        data = bytearray(buf.getvalue())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / f"{archive}.pth"
            torch.save(obj, p)
            data = bytearray(p.read_bytes())
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = next(i for i in zf.infolist() if i.filename.endswith("/.data/serialization_id"))
    fixed = b"0" * info.file_size
    old, new = struct.pack("<I", info.CRC), struct.pack("<I", zlib.crc32(fixed))
    o = info.header_offset
    name_len, extra_len = struct.unpack_from("<HH", data, o + 26)
    start = o + 30 + name_len + extra_len
    assert info.compress_type == zipfile.ZIP_STORED
    data[start : start + len(fixed)] = fixed
    crc_at = [o + 14] if data[o + 14 : o + 18] == old else []
    if info.flag_bits & 0x08:  # CRC in a data descriptor after the data (optional signature)
        d = start + len(fixed)
        crc_at.append(d + 4 if data[d : d + 4] == b"PK\x07\x08" else d)
    c = zf.start_dir
    while True:
        c = data.index(b"PK\x01\x02", c)
        n = struct.unpack_from("<H", data, c + 28)[0]
        if data[c + 46 : c + 46 + n] == info.filename.encode():
            crc_at.append(c + 16)
            break
        c += 4
    for at in crc_at:
        assert data[at : at + 4] == old, "unexpected zip layout from torch.save"
        data[at : at + 4] = new
    zipfile.ZipFile(io.BytesIO(bytes(data))).testzip()
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- generation


def generate(out: Path, image) -> None:
    """`image(h, w, gen)`: the synthetic test image of fixtures.py."""
    from .fixtures import Rng

    out.mkdir(parents=True, exist_ok=True)
    for name, spec in TINY.items():
        gen = Rng(spec["seed"])
        port = tiny_port(name, gen)
        ckpt = out / spec["file"]
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        if spec["arch"] == "promptir":
            save_torch(lightning_checkpoint(port, gen), ckpt)
        else:
            save_torch(params_checkpoint(port), ckpt, archive="net_g_latest")  # as basicsr names it
        import_checkpoint(spec["arch"], ckpt, out / f"{name}.safetensors")
        port64 = port.double()
        tensors = {}
        for h, w in REF_SIZES:
            img = image(h, w, gen)
            tensors[f"image_{h}x{w}"] = img[0].contiguous()
            tensors[f"restored_{h}x{w}"] = port64.restore(img.double()).float()[0].contiguous()
        meta = {"checkpoint": spec["file"], "protocol": "reflect-pad bottom/right to a multiple of 8, forward, crop back; not clamped"}
        write_safetensors(out / f"{name}_ref.safetensors", tensors, meta)
