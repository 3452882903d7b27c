"""PromptIR and Restormer: ports against the published layouts, graph against forward,
the checkpoint importer and its refusals, models without a Prompt Net."""

import json
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from training import ops
from training.ensemble import SYMMETRIES, self_ensemble
from training.fixtures import ROOT, Rng
from training.graph import FileModel, GraphBuilder, ModelFileError, load_model_file, run_function, validate
from training.import_checkpoint import CheckpointError, build_document, build_port, check_layout, import_checkpoint, infer
from training.import_fixtures import TINY, save_torch, tiny_port
from training.promptir import PromptIR
from training.restormer import Restormer

LAYOUTS = ROOT / "training" / "layouts"
FIXTURES = ROOT / "tests" / "fixtures" / "import"
PORTS = {
    "promptir": lambda: PromptIR(),
    "restormer_with_bias": lambda: Restormer(layer_norm="with_bias"),
    "restormer_bias_free": lambda: Restormer(layer_norm="bias_free"),
}


def layout(name):
    return json.loads((LAYOUTS / f"{name}.json").read_text())["tensors"]


@pytest.mark.parametrize("name", list(PORTS))
def test_full_size_port_has_the_published_names_and_shapes_in_order(name):
    with torch.device("meta"):  # names and shapes only: no 35M parameters to initialise
        port = PORTS[name]()
    got = [(k, list(v.shape)) for k, v in port.state_dict().items()]
    assert got == list(layout(name).items())


@pytest.mark.parametrize(
    "name,arch,hp",
    [
        ("promptir", "promptir", dict(prompt_dims=[64, 128, 320], prompt_len=5, prompt_sizes=[64, 32, 16])),
        ("restormer_with_bias", "restormer", dict(layer_norm="with_bias")),
        ("restormer_bias_free", "restormer", dict(layer_norm="bias_free")),
    ],
)
def test_published_layout_infers_the_authors_configuration_and_loads_strictly(name, arch, hp):
    sd = {k: torch.zeros(shape) for k, shape in layout(name).items()}
    got = infer(arch, sd)
    got.pop("unused", None)
    want = dict(dim=48, blocks=[4, 6, 6, 8], refinement=4, heads=[1, 2, 4, 8], bias=False, layer_norm="with_bias") | hp
    assert got == want
    port = build_port(arch, infer(arch, sd))
    check_layout(port, sd, arch)
    port.load_state_dict(sd, strict=True)
    if arch == "promptir":  # the full-size graph obeys the format's rules (attribute limits too)
        doc, tensors = build_document(arch, port, got, {}, [])
        validate(doc, {k: tuple(v.shape) for k, v in tensors.items()})
        assert not any(k.startswith(("chnl_reduce", "reduce_noise_channel")) for k in tensors)


def graph_of(port):
    g = GraphBuilder(port)
    (img,) = g.begin([("image", 3)])
    g.end("restore", {"restored": port.emit(g, img)})
    doc = {"format": "wgpu-restore-model", "version": 1, "config": "test", "degradations": [], "functions": g.functions}
    return doc, g.tensors


@pytest.mark.parametrize("name", list(TINY))
def test_graph_equals_the_port_forward(name):
    port = tiny_port(name, Rng(5))
    doc, tensors = graph_of(port)
    validate(doc, {k: tuple(v.shape) for k, v in tensors.items()})
    for h, w in [(16, 24), (13, 21)]:  # a multiple of 8 and one that needs padding
        img = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h))
        want = port.restore(img)
        got = run_function(doc, tensors, "restore", {"image": img})["restored"]
        assert got.shape == img.shape
        assert (got - want).abs().max() <= 1e-5
        assert (want - img).abs().mean() > 1e-2  # the network does something


def test_restore_pads_to_a_multiple_of_8_and_crops_like_the_authors_demo():
    port = tiny_port("restormer_with_bias", Rng(6)).double()
    img = torch.rand(1, 3, 21, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # demo.py: F.pad(..., 'reflect') bottom/right to the next multiple of 8, forward, crop.
    padded = torch.nn.functional.pad(img, (0, 2, 0, 3), mode="reflect")
    with torch.no_grad():
        want = port(padded)[:, :, :21, :30]
    assert torch.equal(port.restore(img), want)


def test_ffn_width_is_the_authors_floor():
    # int(3 * 2.66) = 7 and int(12 * 2.66) = 31, where round() would give 8 and 32.
    port = Restormer(dim=6, blocks=[1, 1, 1, 1], refinement=1, heads=[1, 1, 1, 1])
    assert port.encoder_level1[0].ffn.project_out.weight.shape[1] == int(6 * 2.66) == 15
    assert Restormer(dim=2, blocks=[1, 1, 1, 1], refinement=1, heads=[1, 1, 1, 1]).decoder_level1[0].ffn.project_out.weight.shape[1] == 10
    assert PromptIR(dim=2, blocks=[1, 1, 1, 1], refinement=1, heads=[1, 1, 1, 1], prompt_dims=[8, 4, 4], prompt_len=2,
                    prompt_sizes=[4, 4, 4]).noise_level1.ffn.project_out.weight.shape[1] == 31


def test_bias_free_layer_norm_is_restormers():
    x = torch.randn(1, 5, 3, 4, dtype=torch.float64) + 2.0
    w = torch.rand(5, dtype=torch.float64) + 0.5
    # The authors' formula on (pixels, channels) rows: x / sqrt(var + 1e-5) * weight.
    rows = x.flatten(2).transpose(1, 2)
    want = (rows / torch.sqrt(rows.var(-1, keepdim=True, unbiased=False) + 1e-5) * w).transpose(1, 2).reshape(x.shape)
    assert torch.allclose(ops.bias_free_layer_norm(x, weight=w), want, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- the importer


def fixture_checkpoint(name):
    return FIXTURES / TINY[name]["file"]


def test_importing_the_fixture_checkpoints_gives_the_documented_document(tmp_path):
    doc = import_checkpoint("promptir", fixture_checkpoint("promptir_tiny"), tmp_path / "p.safetensors")
    assert doc["degradations"] == [] and "prompt" not in doc and list(doc["functions"]) == ["restore"]
    assert doc["functions"]["restore"]["inputs"] == [{"name": "image", "channels": 3}]
    assert doc["config_detail"] == {"bias": False, "blocks": [1, 1, 1, 1], "dim": 2, "heads": [1, 2, 4, 8], "layer_norm": "with_bias",
                                    "refinement": 2, "prompt": {"dims": [4, 8, 12], "len": 3, "sizes": [8, 6, 4]}}
    assert doc["tasks"] == ["denoising", "deraining", "dehazing"]
    prov = doc["provenance"]
    assert (prov["container"], prov["source"], prov["variant"]) == ("lightning", "promptir_tiny.ckpt", "all-in-one")
    import hashlib

    assert prov["sha256"] == hashlib.sha256(fixture_checkpoint("promptir_tiny").read_bytes()).hexdigest()

    def floats(v):
        if isinstance(v, dict):
            return any(floats(x) for x in v.values())
        if isinstance(v, list):
            return any(floats(x) for x in v)
        return isinstance(v, float)

    assert not floats(doc)  # both importers serialise the same integers; floats could differ in print
    names = [n["name"] for n in doc["functions"]["restore"]["nodes"]]
    i = names.index("prompt3.pool")
    assert names[i - 1] == "latent.0.add2"
    assert names[i : i + 8] == ["prompt3.pool", "prompt3.linear_layer", "prompt3.softmax", "prompt3.mix", "prompt3.resize",
                                "prompt3.conv3x3", "concat_prompt3", "noise_level3.norm1"]
    assert names[-4:] == ["refinement.1.add2", "output", "residual", "crop"]

    for name, variant, tasks in [("restormer_with_bias", "deraining", ["deraining"]), ("restormer_bias_free", "real-denoising", ["denoising"])]:
        doc = import_checkpoint("restormer", fixture_checkpoint(name), tmp_path / f"{name}.safetensors")
        assert (doc["provenance"]["container"], doc["provenance"]["variant"], doc["tasks"]) == ("params", variant, tasks)


def test_imported_file_restores_like_the_reference(tmp_path):
    from safetensors.torch import load_file

    for name, spec in TINY.items():
        import_checkpoint(spec["arch"], fixture_checkpoint(name), tmp_path / "m.safetensors", f32=True)
        model = FileModel(tmp_path / "m.safetensors")
        ref = load_file(FIXTURES / f"{name}_ref.safetensors")
        img = ref["image_29x37"][None]
        restored, probs = model.restore(img)
        assert probs.shape == (1, 0)  # no Prompt Net
        assert (restored[0] - ref["restored_29x37"]).abs().max() <= 1e-4


def rewritten(tmp_path, name, mutate, file_name="model.pth"):
    """The fixture checkpoint's tensors, changed by `mutate(sd)`, saved as {'params': sd}."""
    ck = torch.load(fixture_checkpoint(name), weights_only=True)
    sd = OrderedDict((k.removeprefix("net."), v) for k, v in (ck.get("params") or ck["state_dict"]).items())
    mutate(sd)
    path = tmp_path / file_name
    save_torch({"params": sd}, path)
    return path


def refused(tmp_path, arch, path, match, variant=None):
    out = tmp_path / "out.safetensors"
    with pytest.raises(CheckpointError, match=match) as e:
        import_checkpoint(arch, path, out, variant)
    assert "\n" not in str(e.value)
    assert isinstance(e.value, ModelFileError)
    assert not out.exists() and not list(tmp_path.glob("out*"))
    return str(e.value)


def test_refuses_the_other_architecture(tmp_path):
    refused(tmp_path, "promptir", fixture_checkpoint("restormer_with_bias"), r"deraining\.pth: this is not a PromptIR checkpoint")
    refused(tmp_path, "restormer", fixture_checkpoint("promptir_tiny"), r"promptir_tiny\.ckpt: this is a PromptIR checkpoint")


def test_refuses_missing_and_misshaped_tensors_naming_them(tmp_path):
    def drop(sd):
        del sd["noise_level2.ffn.dwconv.weight"]

    refused(tmp_path, "promptir", rewritten(tmp_path, "promptir_tiny", drop), r"missing tensor 'noise_level2\.ffn\.dwconv\.weight'")

    def reshape(sd):
        sd["decoder_level2.0.ffn.project_out.weight"] = torch.zeros(4, 11, 1, 1)  # hidden 11, not int(4 * 2.66) = 10

    refused(tmp_path, "restormer", rewritten(tmp_path, "restormer_with_bias", reshape, "deraining.pth"),
            r"tensor 'decoder_level2\.0\.ffn\.project_out\.weight' has shape \[4, 11, 1, 1\], expected \[4, 10, 1, 1\]")

    def unused_missing(sd):
        del sd["chnl_reduce3.weight"]

    refused(tmp_path, "promptir", rewritten(tmp_path, "promptir_tiny", unused_missing), r"missing tensor 'chnl_reduce3\.weight'")

    def deeper(sd):  # block counts come from the encoder: a second block there needs one in the decoder too
        for k in [k for k in sd if k.startswith("encoder_level2.0.")]:
            sd[k.replace(".0.", ".1.", 1)] = sd[k].clone()

    refused(tmp_path, "restormer", rewritten(tmp_path, "restormer_with_bias", deeper, "deraining.pth"),
            r"missing tensor 'decoder_level2\.1\.norm1\.body\.weight'")

    def stray(sd):
        sd["ema.patch_embed.proj.weight"] = torch.zeros(1)

    refused(tmp_path, "restormer", rewritten(tmp_path, "restormer_with_bias", stray, "deraining.pth"), r"unexpected tensor 'ema\.patch_embed\.proj\.weight'")


def test_unused_promptir_tensors_need_only_be_present(tmp_path):
    def widen(sd):  # never computed with: any 4-D shape is accepted, and none is written
        sd["chnl_reduce3.weight"] = torch.zeros(7, 12, 1, 1)
        sd["reduce_noise_channel_3.weight"] = torch.zeros(8, 15, 1, 1)

    doc = import_checkpoint("promptir", rewritten(tmp_path, "promptir_tiny", widen), tmp_path / "m.safetensors")
    assert "chnl_reduce3.weight" not in load_model_file(tmp_path / "m.safetensors")[1]
    assert doc["provenance"]["container"] == "params"


def test_refuses_grayscale_and_dual_pixel_models(tmp_path):
    def gray(sd):
        sd["patch_embed.proj.weight"] = sd["patch_embed.proj.weight"][:, :1].clone()
        sd["output.weight"] = sd["output.weight"][:1].clone()

    refused(tmp_path, "restormer", rewritten(tmp_path, "restormer_bias_free", gray, "real_denoising.pth"), "grayscale model")

    def dual(sd):
        sd["patch_embed.proj.weight"] = torch.cat([sd["patch_embed.proj.weight"]] * 2, 1)
        sd["skip_conv.weight"] = torch.zeros(4, 2, 1, 1)

    refused(tmp_path, "restormer", rewritten(tmp_path, "restormer_with_bias", dual, "deraining.pth"), "dual-pixel")


def test_variants_unknown_ambiguous_or_contradicting_are_refused(tmp_path):
    same = rewritten(tmp_path, "restormer_bias_free", lambda sd: None, "restormer.pth")
    refused(tmp_path, "restormer", same, r"cannot tell the Restormer variant .*'restormer\.pth'.*real-denoising")
    refused(tmp_path, "restormer", same, r"unknown Restormer variant 'snow'", variant="snow")
    refused(tmp_path, "promptir", fixture_checkpoint("promptir_tiny"), r"unknown PromptIR variant 'deraining'", variant="deraining")
    refused(tmp_path, "restormer", same, r"variant 'deraining' has with_bias layer norms, but this checkpoint's are bias_free", variant="deraining")
    doc = import_checkpoint("restormer", same, tmp_path / "m.safetensors", "gaussian-denoising-sigma25")
    assert (doc["provenance"]["variant"], doc["tasks"]) == ("gaussian-denoising-sigma25", ["denoising"])


def test_bare_and_unprefixed_state_dicts_import_to_the_same_weights(tmp_path):
    want_doc = import_checkpoint("restormer", fixture_checkpoint("restormer_with_bias"), tmp_path / "want.safetensors")
    sd = torch.load(fixture_checkpoint("restormer_with_bias"), weights_only=True)["params"]
    for container, obj in [("state_dict", sd), ("state_dict", {"state_dict": sd, "epoch": 1})]:
        (tmp_path / "x").mkdir(exist_ok=True)
        path = tmp_path / "x" / "deraining.pth"
        save_torch(obj, path)
        doc = import_checkpoint("restormer", path, tmp_path / "got.safetensors")
        assert doc["provenance"]["container"] == container
        assert doc["functions"] == want_doc["functions"]
        got, want = load_model_file(tmp_path / "got.safetensors")[1], load_model_file(tmp_path / "want.safetensors")[1]
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)


def test_command_line_refusal_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "m.safetensors"
    cmd = [sys.executable, str(ROOT / "training" / "import_checkpoint.py"), "restormer", str(fixture_checkpoint("promptir_tiny")), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and not out.exists()
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: promptir_tiny.ckpt: this is a PromptIR checkpoint")
    r = subprocess.run(cmd[:2] + ["promptir"] + cmd[3:] + ["--f32"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert all(t.dtype == torch.float32 for t in load_model_file(out)[1].values())


# ---------------------------------------------------------------- models without a Prompt Net


def test_validation_of_documents_without_degradations():
    port = tiny_port("restormer_with_bias", Rng(7))
    doc, tensors = graph_of(port)
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    validate(doc, shapes)
    with pytest.raises(ModelFileError, match="'prompt' but no degradation types"):
        validate(doc | {"prompt": {"crop": 128, "max_crops": 4}}, shapes)
    with pytest.raises(ModelFileError, match="function 'classify' but no degradation types"):
        validate(doc | {"functions": doc["functions"] | {"classify": doc["functions"]["restore"]}}, shapes)
    two_inputs = json.loads(json.dumps(doc))
    two_inputs["functions"]["restore"]["inputs"].append({"name": "probs", "channels": 3})
    with pytest.raises(ModelFileError, match=r"function 'restore': inputs must have \[3\] channels"):
        validate(two_inputs, shapes)
    with pytest.raises(ModelFileError, match="'tasks' must be a list of strings"):
        validate(doc | {"tasks": "denoising"}, shapes)
    with pytest.raises(ModelFileError, match="graph document has no 'prompt'"):
        validate(doc | {"degradations": ["noise"]}, shapes)


def test_file_model_without_prompt_net_restores_with_self_ensemble(tmp_path):
    path = FIXTURES / "restormer_bias_free.safetensors"
    model = FileModel(path)
    img = torch.rand(1, 3, 11, 13, generator=torch.Generator().manual_seed(3))
    assert model.classify(img).shape == (1, 0)
    plain, probs = model.restore(img)
    assert probs.shape == (1, 0) and plain.shape == img.shape
    ens, _ = model.restore(img, ensemble=True)
    # No degradation types, none to protect: all 8 symmetries.
    want = self_ensemble(lambda x: model.restore(x)[0], img, SYMMETRIES)
    assert torch.equal(ens, want) and not torch.equal(ens, plain)


def test_bench_torch_times_a_model_without_prompt_net():
    r = subprocess.run([sys.executable, str(ROOT / "training" / "bench_torch.py"), str(FIXTURES / "restormer_with_bias.safetensors"),
                        "--size", "16x24", "--repeat", "1", "--threads", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["restore_s"] > 0 and out["classify_s"] is None
