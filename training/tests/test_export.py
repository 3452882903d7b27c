"""Model file: export round trip, validation errors, fixture determinism."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from training.export import build_document, export
from training.fixtures import ROOT, Rng, randomize
from training.graph import FileModel, ModelFileError, load_model_file, save_model_file
from training.model import CONFIGS, AllInOne


def random_model(name, seed=0):
    torch.manual_seed(seed)
    return randomize(AllInOne(CONFIGS[name]), Rng(seed + 1))


@pytest.mark.parametrize("name,size", [("tiny", (37, 53)), ("small", (45, 61))])
def test_export_round_trip_equals_module_forward(tmp_path, name, size):
    model = random_model(name)
    path = tmp_path / f"{name}.safetensors"
    export(model, path, {"source": "test"})
    img = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(5))
    want, p_want = model.restore(img)
    got, p_got = FileModel(path).restore(img)
    assert (p_got - p_want).abs().max() <= 1e-6  # BatchNorm folding included
    assert (got - want).abs().max() <= 1e-6
    override = torch.tensor([[1.0, 0.0, 0.25]])
    assert (FileModel(path).restore(img, override)[0] - model.restore(img, override)[0]).abs().max() <= 1e-6


def test_f16_export_loads_and_stays_close(tmp_path):
    model = random_model("tiny")
    export(model, tmp_path / "m.safetensors", f16=True)
    assert all(t.dtype == torch.float16 for t in load_file(tmp_path / "m.safetensors").values())
    img = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    diff = (FileModel(tmp_path / "m.safetensors").restore(img)[0] - model.restore(img)[0]).abs().max()
    assert 0 < diff < 0.05


def rewrite(tmp_path, mutate):
    """Export tiny, let `mutate(doc, tensors)` break it, write it without validation."""
    doc, tensors = build_document(random_model("tiny"))
    mutate(doc, tensors)
    meta = {"format": "wgpu-restore-model", "format_version": "1", "graph": json.dumps(doc)}
    path = tmp_path / "broken.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)
    return path


def first_node(doc, op):
    return next(n for n in doc["functions"]["restore"]["nodes"] if n["op"] == op)


def test_rejects_missing_tensor(tmp_path):
    path = rewrite(tmp_path, lambda d, t: t.pop("restorer.enc1.0.attn.qkv_c.weight"))
    with pytest.raises(ModelFileError, match=r"enc1\.0\.attn\.qkv_c.*restorer\.enc1\.0\.attn\.qkv_c\.weight.*missing"):
        load_model_file(path)


def test_rejects_misshaped_tensor(tmp_path):
    def mutate(d, t):
        t["restorer.enc1.0.attn.temperature"] = torch.ones(5)

    with pytest.raises(ModelFileError, match=r"enc1\.0\.attn\.attn_c.*restorer\.enc1\.0\.attn\.temperature.*\[5\].*\[1\]"):
        load_model_file(rewrite(tmp_path, mutate))


def test_rejects_unknown_op(tmp_path):
    def mutate(d, t):
        first_node(d, "gelu_gate")["op"] = "swish_gate"

    with pytest.raises(ModelFileError, match=r"enc1\.0\.ffn\.gate.*unknown op 'swish_gate'"):
        load_model_file(rewrite(tmp_path, mutate))


def test_rejects_unreferenced_tensor_and_use_before_definition(tmp_path):
    with pytest.raises(ModelFileError, match="'stray' is not referenced"):
        load_model_file(rewrite(tmp_path, lambda d, t: t.update(stray=torch.zeros(2))))

    def swap(d, t):
        nodes = d["functions"]["restore"]["nodes"]
        nodes[1], nodes[2] = nodes[2], nodes[1]

    with pytest.raises(ModelFileError, match="before it is produced"):
        load_model_file(rewrite(tmp_path, swap))


def test_rejects_other_version_and_garbage(tmp_path):
    doc, tensors = build_document(random_model("tiny"))
    path = tmp_path / "v2.safetensors"
    save_file(tensors, str(path), metadata={"format": "wgpu-restore-model", "format_version": "2", "graph": json.dumps(doc)})
    with pytest.raises(ModelFileError, match="unsupported format version"):
        load_model_file(path)
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        load_model_file(tmp_path / "junk.safetensors")


def test_save_validates_before_writing(tmp_path):
    doc, tensors = build_document(random_model("tiny"))
    tensors["restorer.embed.weight"] = tensors["restorer.embed.weight"][:, :2].contiguous()
    with pytest.raises(ModelFileError, match="restorer.embed.weight"):
        save_model_file(tmp_path / "x.safetensors", doc, tensors)
    assert not (tmp_path / "x.safetensors").exists()


def test_fixture_regeneration_is_byte_identical():
    fixtures = ROOT / "tests" / "fixtures"
    assert len(list((fixtures / "ops").glob("*.safetensors"))) >= 40
    r = subprocess.run([sys.executable, str(ROOT / "training" / "fixtures.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_rejects_entry_points_the_runtime_cannot_use(tmp_path):
    """The rules src/model/validate.rs enforces at load, enforced before writing too:
    restore returns the image's shape, classify one probability per degradation, a sane
    Prompt Net crop, integer attributes at most 65535."""

    def inner_output(fname):
        def mutate(d, t):  # the first convolution's output: features, not the image
            conv = next(n for n in d["functions"][fname]["nodes"] if n["op"] == "conv2d")
            d["functions"][fname]["outputs"] = [conv["outputs"][0]]

        return mutate

    with pytest.raises(ModelFileError, match="function 'restore': output .* must be"):
        load_model_file(rewrite(tmp_path, inner_output("restore")))
    with pytest.raises(ModelFileError, match="function 'classify': output .* must be"):
        load_model_file(rewrite(tmp_path, inner_output("classify")))
    with pytest.raises(ModelFileError, match="function 'restore': inputs must have"):
        load_model_file(rewrite(tmp_path, lambda d, t: d["degradations"].append("snow")))
    with pytest.raises(ModelFileError, match="prompt: crop"):
        load_model_file(rewrite(tmp_path, lambda d, t: d["prompt"].update(crop=1 << 40)))

    def huge_kernel(d, t):
        first_node(d, "conv2d")["attrs"]["kernel"] = 1 << 32

    with pytest.raises(ModelFileError, match="attribute 'kernel' is 4294967296, over the limit"):
        load_model_file(rewrite(tmp_path, huge_kernel))
