"""Writes the fuzzers' seed corpora (fuzz/corpus/<target>/): small valid inputs of every
kind each loader reads, so that the fuzzers start from files that get past the first
checks. Run with the training virtual environment (numpy, safetensors, Pillow, torch):

    training/.venv/bin/python fuzz/make_seeds.py

The files are committed; tests/fuzz_corpus.rs replays them (and every crash input kept
beside them) through the same functions the fuzz targets call.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save as st_save

OUT = Path(__file__).resolve().parent / "corpus"
rng = np.random.default_rng(0)


def put(target: str, name: str, data: bytes) -> None:
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def w(*shape) -> np.ndarray:
    return (rng.standard_normal(shape) * 0.2).astype(np.float32)


def node(name, op, inputs, out, attrs=None, weights=None):
    return {"name": name, "op": op, "inputs": inputs, "outputs": [out], "attrs": attrs or {}, "weights": weights or {}}


def model_file(doc: dict, tensors: dict[str, np.ndarray], f16: bool = False) -> bytes:
    if f16:
        tensors = {k: v.astype(np.float16) for k, v in tensors.items()}
    meta = {"format": "wgpu-restore-model", "format_version": "1", "graph": json.dumps(doc)}
    return st_save(tensors, metadata=meta)


def model_seeds() -> None:
    # A small all-in-one model: a Prompt Net (classify) and a restorer that uses most ops.
    t = {
        "c.fc.weight": w(2, 3), "c.fc.bias": w(2),
        "r.embed.weight": w(4, 3, 3, 3), "r.embed.bias": w(4),
        "r.norm.weight": w(4), "r.norm.bias": w(4),
        "r.qkv.weight": w(12, 4, 1, 1),
        "r.attn.alpha": np.ones(2, np.float32),
        "r.qkv2.weight": w(12, 4, 1, 1),
        "r.cattn.temperature": np.ones(2, np.float32),
        "r.ffn.weight": w(8, 4, 3, 3),
        "r.prompt.components": w(2, 4, 2, 2),
        "r.down.weight": w(4, 16, 1, 1),
        "r.up.weight": w(16, 4, 1, 1),
        "r.mix.wa": np.ones(1, np.float32), "r.mix.wb": np.ones(1, np.float32),
        "r.affine.scale": np.ones(4, np.float32), "r.affine.shift": np.zeros(4, np.float32),
        "r.out.weight": w(3, 4, 3, 3),
    }
    classify = {
        "inputs": [{"name": "crop", "channels": 3}],
        "outputs": ["probs"],
        "nodes": [
            node("c.pool0", "max_pool", ["crop"], "v1", {"kernel": 3, "stride": 2, "padding": 1}),
            node("c.pool", "global_avg_pool", ["v1"], "v2"),
            node("c.fc", "linear", ["v2"], "v3", {}, {"weight": "c.fc.weight", "bias": "c.fc.bias"}),
            node("c.act", "sigmoid", ["v3"], "probs"),
        ],
    }
    restore = {
        "inputs": [{"name": "image", "channels": 3}, {"name": "probs", "channels": 2}],
        "outputs": ["restored"],
        "nodes": [
            node("pad", "reflect_pad", ["image"], "p", {"multiple": 8}),
            node("embed", "conv2d", ["p"], "e", {"kernel": 3, "stride": 1, "padding": 1, "groups": 1},
                 {"weight": "r.embed.weight", "bias": "r.embed.bias"}),
            node("norm", "layer_norm", ["e"], "n", {"eps": 1e-5}, {"weight": "r.norm.weight", "bias": "r.norm.bias"}),
            node("qkv", "conv2d", ["n"], "q", {"kernel": 1}, {"weight": "r.qkv.weight"}),
            node("attn", "window_attention", ["q"], "a", {"heads": 2, "window": 4}, {"alpha": "r.attn.alpha"}),
            node("qkv2", "conv2d", ["a"], "q2", {"kernel": 1}, {"weight": "r.qkv2.weight"}),
            node("cattn", "channel_attention", ["q2"], "ca", {"heads": 2}, {"temperature": "r.cattn.temperature"}),
            node("ffn", "conv2d", ["ca"], "f", {"kernel": 3, "padding": 1}, {"weight": "r.ffn.weight"}),
            node("gate", "gelu_gate", ["f"], "g"),
            node("unshuffle", "pixel_unshuffle", ["g"], "u", {"factor": 2}),
            node("down", "conv2d", ["u"], "d", {"kernel": 1}, {"weight": "r.down.weight"}),
            node("prompt", "mix_components", ["probs"], "pr", {}, {"components": "r.prompt.components"}),
            node("resize", "resize_bilinear", ["pr", "d"], "rs"),
            node("mix", "weighted_add", ["d", "rs"], "m", {}, {"wa": "r.mix.wa", "wb": "r.mix.wb"}),
            node("up", "conv2d", ["m"], "up1", {"kernel": 1}, {"weight": "r.up.weight"}),
            node("shuffle", "pixel_shuffle", ["up1"], "s", {"factor": 2}),
            node("cat", "concat", ["s", "g"], "cc"),
            node("soft", "softmax", ["cc"], "so"),
            node("relu", "relu", ["so"], "re"),
            node("pool", "global_avg_pool", ["re"], "gp"),
            node("affine", "channel_affine", ["g"], "af", {}, {"scale": "r.affine.scale", "shift": "r.affine.shift"}),
            node("out", "conv2d", ["af"], "o", {"kernel": 3, "padding": 1}, {"weight": "r.out.weight"}),
            node("crop", "crop", ["o", "image"], "c"),
            node("residual", "add", ["c", "image"], "restored"),
        ],
    }
    # `pool` and `relu` feed nothing: harmless, and they exercise more of the op table.
    doc = {
        "format": "wgpu-restore-model", "version": 1, "config": "fuzz-seed",
        "degradations": ["noise", "rain"], "provenance": {"source": "fuzz/make_seeds.py"},
        "prompt": {"crop": 8, "max_crops": 4},
        "functions": {"classify": classify, "restore": restore},
    }
    put("model_file", "allinone.safetensors", model_file(doc, t))
    put("model_file", "allinone_f16.safetensors", model_file(doc, t, f16=True))
    # A model without a Prompt Net (as an imported Restormer): restore(image) alone.
    t2 = {"r.norm.weight": w(3), "r.conv.weight": w(3, 3, 3, 3)}
    doc2 = {
        "format": "wgpu-restore-model", "version": 1, "config": "fuzz-seed", "degradations": [],
        "architecture": "restormer", "tasks": ["deraining"],
        "functions": {"restore": {
            "inputs": [{"name": "image", "channels": 3}], "outputs": ["restored"],
            "nodes": [
                node("norm", "bias_free_layer_norm", ["image"], "n", {}, {"weight": "r.norm.weight"}),
                node("conv", "conv2d", ["n"], "c", {"kernel": 3, "padding": 1}, {"weight": "r.conv.weight"}),
                node("residual", "add", ["c", "image"], "restored"),
            ]}},
    }
    put("model_file", "no_prompt_net.safetensors", model_file(doc2, t2))


def image_seeds() -> None:
    rgb = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
    img = Image.fromarray(rgb)

    def save(name, im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        put("image", name, b.getvalue())

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated
    icc = bytes(range(128))
    save("rgb8.png", img, "PNG")
    save("exif_icc.png", img, "PNG", exif=exif.tobytes(), icc_profile=icc)
    save("gray.png", img.convert("L"), "PNG")
    save("rgba.png", img.convert("RGBA"), "PNG")
    save("gray16.png", Image.fromarray((rng.random((6, 8)) * 65535).astype(np.uint16)), "PNG")
    save("baseline.jpg", img, "JPEG", quality=80, exif=exif.tobytes(), icc_profile=icc)
    save("progressive.jpg", img, "JPEG", quality=80, progressive=True)
    save("gray.jpg", img.convert("L"), "JPEG")
    save("rgb8.tif", img, "TIFF")
    save("deflate.tif", img, "TIFF", compression="tiff_adobe_deflate")
    save("gray16.tif", Image.fromarray((rng.random((6, 8)) * 65535).astype(np.uint16)), "TIFF")
    save("float.tif", Image.fromarray(rng.random((6, 8)).astype(np.float32)), "TIFF")
    save("lossless.webp", img, "WEBP", lossless=True)
    save("lossy.webp", img, "WEBP", quality=50)
    save("alpha.webp", img.convert("RGBA"), "WEBP", lossless=True)
    frames = [Image.fromarray((rng.random((6, 8, 3)) * 255).astype(np.uint8)) for _ in range(2)]
    b = io.BytesIO()
    frames[0].save(b, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    put("image", "animated.webp", b.getvalue())
    b = io.BytesIO()
    frames[0].save(b, "PNG", save_all=True, append_images=frames[1:])
    put("image", "animated.png", b.getvalue())

    # A PNG whose header declares 60000 x 60000 RGBA16 (the allocation that ended the process).
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 16, 6, 0, 0, 0)
    put("image", "huge_header.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"\x78\x9c") + chunk(b"IEND", b""))


def probs_seeds() -> None:
    # First line: the model's degradation names; the rest: the --probs text.
    for i, (names, text) in enumerate([
        ("noise,rain,haze", "noise=0.9,rain=0,haze=0.2"),
        ("noise,rain,haze", "NOISE = 1 , haze=1e-3,"),
        ("noise,rain,haze", "rain=0.5,rain=0.5"),
        ("noise", "noise=nan"),
        ("noise,rain", "snow=1"),
        ("a,b,c,d", "a=1,b=-0,c=inf,d"),
    ]):
        put("probs", f"seed{i}.txt", f"{names}\n{text}".encode())


def checkpoint_seeds() -> None:
    sd = {"net.conv.weight": torch.randn(2, 1, 1, 1), "net.conv.bias": torch.randn(2).half()}
    view = torch.randn(3, 4)
    for name, obj in [
        ("state_dict.pth", sd),
        ("lightning.ckpt", {"state_dict": sd, "epoch": 3, "optimizer_states": [{"lr": 1e-3}]}),
        ("params.pth", {"params": {"w": torch.randn(2, 2, dtype=torch.float64), "b": torch.randn(2).bfloat16()}}),
        ("views.pth", {"t": view.t(), "s": view[1:, ::2]}),
    ]:
        b = io.BytesIO()
        torch.save(obj, b)
        put("checkpoint", name, b.getvalue())
    b = io.BytesIO()
    torch.save(sd, b, _use_new_zipfile_serialization=False)
    put("checkpoint", "legacy.pth", b.getvalue())


def pickle_seeds() -> None:
    d = {"k": 7}
    values = {
        "builtins_p2": [d, d, (1, 2.5, "s", b"b", None, True), {"n": -(2**40)}],
        "builtins_p4": {"a": [1, 2, 3], "b": {"c": (), "d": frozenset()}, "e": 2**70},
        "builtins_p5": [bytearray(b"xy"), "é", 1.5e300, [[[]]]],
    }
    for name, v in values.items():
        put("pickle", name + ".pkl", pickle.dumps(v, protocol=int(name[-1])))
    # torch.save's own data.pkl: persistent ids and the tensor-rebuild globals.
    import zipfile

    for src in (OUT / "checkpoint").glob("*.[pc][tk]*"):
        try:
            z = zipfile.ZipFile(src)
        except zipfile.BadZipFile:
            continue
        for n in z.namelist():
            if n.endswith("data.pkl"):
                put("pickle", src.stem + "_data.pkl", z.read(n))


if __name__ == "__main__":
    model_seeds()
    image_seeds()
    probs_seeds()
    checkpoint_seeds()
    pickle_seeds()
    for d in sorted(OUT.iterdir()):
        files = sorted(d.iterdir())
        print(f"{d.name}: {len(files)} files, {sum(f.stat().st_size for f in files)} bytes")
