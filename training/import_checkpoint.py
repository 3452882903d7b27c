"""The authors' published PromptIR or Restormer checkpoint -> model file (docs/import.md).

    python training/import_checkpoint.py promptir|restormer CHECKPOINT -o OUT.safetensors [--variant V] [--f32]

Reads the checkpoint without running its pickled code (`weights_only`), finds the state
dict in its container (a Lightning `.ckpt`, the authors' `{"params": ...}` `.pth`, or a bare
state dict), infers the hyperparameters from tensor shapes, checks every tensor against the
port's layout (promptir.py, restormer.py), loads it strictly and writes the network as a
`restore(image)` graph. The Rust importer (`src/import/`) writes the same bytes from the same
checkpoint, so every choice here (names, order, document keys) is fixed, and nothing in the
document is a float. A checkpoint this cannot import is refused with one line, and no file
is written.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch  # noqa: E402

from .graph import FORMAT, VERSION, GraphBuilder, ModelFileError, save_model_file  # noqa: E402
from .promptir import UNUSED, PromptIR  # noqa: E402
from .restormer import Restormer  # noqa: E402

ARCHITECTURES = {"promptir": "PromptIR", "restormer": "Restormer"}
PROMPTIR_VARIANTS = {"all-in-one": ["denoising", "deraining", "dehazing"]}
# variant -> (layer norm type of its weights, tasks)
RESTORMER_VARIANTS = {
    "deraining": ("with_bias", ["deraining"]),
    "motion-deblurring": ("with_bias", ["motion-deblurring"]),
    "defocus-deblurring": ("with_bias", ["defocus-deblurring"]),
    "real-denoising": ("bias_free", ["denoising"]),
    "gaussian-denoising": ("bias_free", ["denoising"]),
    "gaussian-denoising-sigma15": ("bias_free", ["denoising"]),
    "gaussian-denoising-sigma25": ("bias_free", ["denoising"]),
    "gaussian-denoising-sigma50": ("bias_free", ["denoising"]),
}
# The authors' file names of the published Restormer weights.
RESTORMER_FILES = {
    "deraining.pth": "deraining",
    "motion_deblurring.pth": "motion-deblurring",
    "single_image_defocus_deblurring.pth": "defocus-deblurring",
    "real_denoising.pth": "real-denoising",
    "gaussian_color_denoising_blind.pth": "gaussian-denoising",
    "gaussian_color_denoising_sigma15.pth": "gaussian-denoising-sigma15",
    "gaussian_color_denoising_sigma25.pth": "gaussian-denoising-sigma25",
    "gaussian_color_denoising_sigma50.pth": "gaussian-denoising-sigma50",
}
LIGHTNING_PREFIX = "net."  # PromptIR's LightningModule holds the network as `net`


class CheckpointError(ModelFileError):
    """A checkpoint that cannot be imported; the message is one line."""


def variants(arch: str) -> list[str]:
    return list(PROMPTIR_VARIANTS if arch == "promptir" else RESTORMER_VARIANTS)


# ---------------------------------------------------------------- reading


def find_state_dict(ck) -> tuple[dict, str]:
    """The network's tensors (names without `net.`) and the container's name."""
    if isinstance(ck, dict) and isinstance(ck.get("params"), dict):
        sd, container = ck["params"], "params"
    elif isinstance(ck, dict) and isinstance(ck.get("state_dict"), dict):
        sd = ck["state_dict"]
        container = "lightning" if sd and all(k.startswith(LIGHTNING_PREFIX) for k in sd) else "state_dict"
    elif isinstance(ck, dict) and ck and all(isinstance(v, torch.Tensor) for v in ck.values()):
        sd, container = ck, "state_dict"
    else:
        raise CheckpointError("no state dict found (expected a 'state_dict' or 'params' entry, or a dict of tensors)")
    if container == "lightning":
        sd = {k[len(LIGHTNING_PREFIX) :]: v for k, v in sd.items()}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"state dict entry '{k}' is not a tensor")
        if v.dtype not in (torch.float32, torch.float16):
            raise CheckpointError(f"tensor '{k}' has dtype {str(v.dtype).removeprefix('torch.')}; expected float32 or float16")
    return sd, container


def need(sd: dict, name: str, rank: int) -> tuple:
    if name not in sd:
        raise CheckpointError(f"missing tensor '{name}'")
    shape = tuple(sd[name].shape)
    if len(shape) != rank or min(shape, default=1) < 1:
        raise CheckpointError(f"tensor '{name}' has shape {list(shape)}, expected {rank} non-empty dimensions")
    return shape


def count_blocks(sd: dict, level: str) -> int:
    """Blocks of a level: one more than the highest index (a gap shows up as a missing tensor)."""
    pattern = re.compile(rf"{re.escape(level)}\.(\d+)\.")
    found = [int(m.group(1)) for k in sd if (m := pattern.match(k))]
    return max(found) + 1 if found else 0


def infer(arch: str, sd: dict) -> dict:
    """The port's constructor arguments, from tensor shapes (the checks of a real layout
    follow in check_layout)."""
    has_prompts = "prompt1.prompt_param" in sd
    if arch == "restormer" and has_prompts:
        raise CheckpointError("this is a PromptIR checkpoint (it has prompt1.prompt_param), not a Restormer one: import it as promptir")
    if arch == "promptir" and not has_prompts:
        raise CheckpointError("this is not a PromptIR checkpoint (no prompt1.prompt_param; a Restormer one? import it as restormer)")
    dim, cin = need(sd, "patch_embed.proj.weight", 4)[:2]
    if cin == 1:
        raise CheckpointError("grayscale model (1 input channel): only RGB models can be imported")
    if cin == 6 or "skip_conv.weight" in sd:
        raise CheckpointError("dual-pixel defocus model (6 input channels, two views): only single-image RGB models can be imported")
    if cin != 3:
        raise CheckpointError(f"patch_embed.proj.weight takes {cin} input channels; only RGB (3) models can be imported")
    levels = ["encoder_level1", "encoder_level2", "encoder_level3", "latent"]
    heads = []
    for level in levels:
        h = need(sd, f"{level}.0.attn.temperature", 3)
        if h[1:] != (1, 1):
            raise CheckpointError(f"tensor '{level}.0.attn.temperature' has shape {list(h)}, expected [heads, 1, 1]")
        heads.append(h[0])
    hp = {
        "dim": dim,
        "blocks": [count_blocks(sd, level) for level in levels],
        "refinement": count_blocks(sd, "refinement"),
        "heads": heads,
        "bias": "encoder_level1.0.attn.qkv.bias" in sd,
        "layer_norm": "with_bias" if "encoder_level1.0.norm1.body.bias" in sd else "bias_free",
    }
    if arch == "promptir":
        shapes = [need(sd, f"prompt{i}.prompt_param", 5) for i in (1, 2, 3)]
        for i, s in enumerate(shapes, 1):
            if s[0] != 1 or s[3] != s[4] or s[1] != shapes[0][1]:
                raise CheckpointError(f"tensor 'prompt{i}.prompt_param' has shape {list(s)}, expected [1, {shapes[0][1]}, D, S, S]")
        hp["prompt_dims"] = [s[2] for s in shapes]
        hp["prompt_len"] = shapes[0][1]
        hp["prompt_sizes"] = [s[3] for s in shapes]
        # Never computed with: only present (any 4-D shape), and left out of the model file.
        hp["unused"] = {name: need(sd, f"{name}.weight", 4) for name in UNUSED}
    return hp


def build_port(arch: str, hp: dict):
    try:
        return (PromptIR if arch == "promptir" else Restormer)(**hp)
    except ValueError as e:  # e.g. a head count that does not divide its level's channels
        raise CheckpointError(f"inconsistent {ARCHITECTURES[arch]} checkpoint: {e}") from e


def check_layout(port, sd: dict, arch: str) -> None:
    """Every tensor the port has, with its shape, and nothing else (as strict loading)."""
    want = {k: tuple(v.shape) for k, v in port.state_dict().items()}
    for name, shape in want.items():
        if name not in sd:
            raise CheckpointError(f"missing tensor '{name}' (shape {list(shape)})")
        if tuple(sd[name].shape) != shape:
            raise CheckpointError(f"tensor '{name}' has shape {list(sd[name].shape)}, expected {list(shape)}")
    extra = sorted(set(sd) - set(want))
    if extra:
        raise CheckpointError(f"unexpected tensor '{extra[0]}' ({len(extra)} not in the {ARCHITECTURES[arch]} layout)")


def resolve_variant(arch: str, path: Path, variant: str | None, layer_norm: str) -> tuple[str, list[str]]:
    if arch == "promptir":
        variant = variant or "all-in-one"
        return variant, list(PROMPTIR_VARIANTS[variant])
    if variant is None:
        variant = RESTORMER_FILES.get(path.name)
    if variant is None:
        fitting = [v for v, (ln, _) in RESTORMER_VARIANTS.items() if ln == layer_norm]
        raise CheckpointError(
            f"cannot tell the Restormer variant from the file name '{path.name}': give --variant ({', '.join(fitting)} fit its {layer_norm} layer norms)"
        )
    ln, tasks = RESTORMER_VARIANTS[variant]
    if ln != layer_norm:
        raise CheckpointError(f"variant '{variant}' has {ln} layer norms, but this checkpoint's are {layer_norm}")
    return variant, list(tasks)


# ---------------------------------------------------------------- writing


def build_document(arch: str, port, hp: dict, provenance: dict, tasks: list[str]) -> tuple[dict, dict]:
    g = GraphBuilder(port)
    (img,) = g.begin([("image", 3)])
    g.end("restore", {"restored": port.emit(g, img)})
    detail = {k: hp[k] for k in ("bias", "blocks", "dim", "heads", "layer_norm", "refinement")}
    if arch == "promptir":
        detail["prompt"] = {"dims": hp["prompt_dims"], "len": hp["prompt_len"], "sizes": hp["prompt_sizes"]}
    doc = {
        "architecture": arch,
        "config": arch,
        "config_detail": detail,
        "degradations": [],
        "format": FORMAT,
        "version": VERSION,
        "functions": g.functions,
        "provenance": provenance,
        "tasks": tasks,
    }
    return doc, g.tensors


def load_port(arch: str, path: str | Path, variant: str | None = None):
    """(port in eval mode with the checkpoint's weights, hyperparameters, provenance, tasks)."""
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture '{arch}' (one of {', '.join(ARCHITECTURES)})")
    if variant is not None and variant not in variants(arch):
        raise CheckpointError(f"unknown {ARCHITECTURES[arch]} variant '{variant}' (one of {', '.join(variants(arch))})")
    path = Path(path)
    raw = path.read_bytes()
    try:
        ck = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and weights_only errors all mean "cannot read this"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"not a readable PyTorch checkpoint ({first})") from e
    sd, container = find_state_dict(ck)
    hp = infer(arch, sd)
    port = build_port(arch, hp)
    check_layout(port, sd, arch)
    port.load_state_dict(sd, strict=True)
    hp.pop("unused", None)
    variant, tasks = resolve_variant(arch, path, variant, hp["layer_norm"])
    provenance = {
        "architecture": ARCHITECTURES[arch],
        "source": path.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "container": container,
        "variant": variant,
    }
    return port.eval(), hp, provenance, tasks


def import_checkpoint(arch: str, path: str | Path, out: str | Path, variant: str | None = None, f32: bool = False) -> dict:
    """Write the model file of a checkpoint; returns its graph document."""
    try:
        port, hp, provenance, tasks = load_port(arch, path, variant)
    except CheckpointError as e:
        raise CheckpointError(f"{Path(path).name}: {e}") from e
    doc, tensors = build_document(arch, port, hp, provenance, tasks)
    save_model_file(out, doc, tensors, torch.float32 if f32 else torch.float16)
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("architecture", choices=list(ARCHITECTURES))
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True, help="output .safetensors model file")
    ap.add_argument("--variant", help="Restormer: which published model (default: from the file name); PromptIR: all-in-one")
    ap.add_argument("--f32", action="store_true", help="store weights as float32 (default float16)")
    a = ap.parse_args(argv)
    try:
        doc = import_checkpoint(a.architecture, a.checkpoint, a.out, a.variant, a.f32)
    except (CheckpointError, OSError) as e:
        sys.exit(f"error: {e}")
    p = doc["provenance"]
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.2f} MB): {p['architecture']} {p['variant']}, {doc['config_detail']}")


if __name__ == "__main__":
    main()
