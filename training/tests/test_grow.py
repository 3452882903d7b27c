"""training/grow.py: a deeper model that starts as exactly the function of its source."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
import torch

from training import grow as G
from training.export import export, load_checkpoint
from training.fixtures import Rng, randomize
from training.graph import FileModel
from training.model import AllInOne, get_config

TINY = get_config("tiny")
# Every stack grows, the full-resolution ones by more than one block.
DEEPER = replace(TINY, name="tiny-deeper", blocks=[3, 2, 2, 3], refine=2)


def trained_like(seed: int) -> dict:
    # randomize() also moves each block's branch mix off 0.5 / 0.5 and every LayerNorm off
    # identity, so a copied block that was not turned into the identity would show.
    model = randomize(AllInOne(TINY), Rng(seed)).eval()
    return {"config": asdict(TINY), "model": model.state_dict(), "opt": {"state": {}}, "iteration": 700,
            "provenance": {"iterations": 700}}


def grown_model(ck: dict) -> AllInOne:
    g = G.grow(ck, DEEPER, "test")
    model = AllInOne(DEEPER).eval()
    model.load_state_dict(g["model"])
    return model


def test_grown_model_restores_exactly_as_its_source():
    ck = trained_like(3)
    src = AllInOne(TINY).eval()
    src.load_state_dict(ck["model"])
    deeper = grown_model(ck)
    img = torch.rand(1, 3, 27, 34, generator=torch.Generator().manual_seed(4))
    probs = torch.tensor([[0.9, 0.2, 0.6]])
    with torch.no_grad():
        a, b = src.restorer(img, probs), deeper.restorer(img, probs)
        assert torch.equal(a, b)
        assert torch.equal(src.classify(img), deeper.classify(img))
    # the added blocks are really there and are not plain copies
    assert len(deeper.restorer.enc1) == 3 and len(deeper.restorer.refinement) == 2
    added = deeper.restorer.dec1[2]
    assert added.attn.proj_c.weight.abs().sum() == 0 and added.ffn.pout.weight.abs().sum() == 0
    assert torch.equal(added.attn.qkv_p.weight, deeper.restorer.dec1[0].attn.qkv_p.weight)
    assert src.restorer.dec1[0].attn.w1.item() != 0.5 and added.attn.w1.item() == 0.5


def test_added_blocks_learn_from_the_first_step():
    deeper = grown_model(trained_like(5)).train()
    img = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    target = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    loss = (deeper.restorer(img, torch.full((2, 3), 0.5)) - target).abs().mean()
    loss.backward()
    for stack in (deeper.restorer.enc1[1], deeper.restorer.latent[2], deeper.restorer.refinement[1]):
        assert stack.attn.proj_p.weight.grad.abs().sum() > 0
        assert stack.ffn.pout.weight.grad.abs().sum() > 0


def test_grown_checkpoint_exports_and_the_file_restores_as_the_source(tmp_path, monkeypatch):
    ck = trained_like(8)
    torch.save(ck, tmp_path / "src.pt")
    monkeypatch.setattr(G, "get_config", lambda name: DEEPER)  # main() looks the target up by name
    G.main(["--from", str(tmp_path / "src.pt"), "--config", DEEPER.name, "--out", str(tmp_path / "g.pt")])
    model, prov = load_checkpoint(tmp_path / "g.pt")
    assert model.cfg == DEEPER and "grown to tiny-deeper" in prov["note"] and "iteration 700" in prov["note"]
    saved = torch.load(tmp_path / "g.pt", map_location="cpu", weights_only=False)
    assert "opt" not in saved and saved["iteration"] == 700
    export(model, tmp_path / "g.safetensors")
    src = AllInOne(TINY).eval()
    src.load_state_dict(ck["model"])
    export(src, tmp_path / "src.safetensors")
    img = torch.rand(1, 3, 19, 26, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        a, _ = FileModel(tmp_path / "src.safetensors").restore(img)
        b, _ = FileModel(tmp_path / "g.safetensors").restore(img)
    assert torch.allclose(a, b, atol=1e-6)


def test_only_depth_can_grow():
    ck = trained_like(1)
    with pytest.raises(ValueError, match="C differs"):
        G.grow(ck, replace(DEEPER, C=16), "x")
    with pytest.raises(ValueError, match="fewer blocks in refinement"):
        G.grow(dict(ck, config=asdict(replace(TINY, refine=2))), replace(DEEPER, refine=1), "x")
    bad = dict(ck, model={**ck["model"], "restorer.embed.weight": torch.zeros(8, 3, 1, 1)})
    with pytest.raises(ValueError, match="restorer.embed.weight: shape"):
        G.grow(bad, DEEPER, "x")
