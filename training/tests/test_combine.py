"""training/combine.py: the restorer of one checkpoint with the Prompt Net of another."""

from __future__ import annotations

import re

import pytest
import torch

from training import combine as C
from training.export import load_checkpoint
from training.tests.checkpoints import seeded_checkpoint


def _save(ck: dict, path):
    torch.save(ck, path)
    return path


def test_combined_checkpoint_takes_each_half_from_its_source_and_loads(tmp_path):
    r, p = seeded_checkpoint(1, 300), seeded_checkpoint(2, 100)
    C.main(["--restorer", str(_save(r, tmp_path / "r.pt")), "--prompt-net", str(_save(p, tmp_path / "p.pt")),
            "--out", str(tmp_path / "c.pt")])
    c = torch.load(tmp_path / "c.pt", map_location="cpu", weights_only=False)
    prompt_keys = [k for k in c["model"] if k.startswith("prompt_net.")]
    other_keys = [k for k in c["model"] if not k.startswith("prompt_net.")]
    assert prompt_keys and other_keys
    # the seeds differ, so every float tensor tells which source it came from
    for k in prompt_keys:
        assert torch.equal(c["model"][k], p["model"][k]), k
    for k in other_keys:
        assert torch.equal(c["model"][k], r["model"][k]), k
    assert any(not torch.equal(r["model"][k], p["model"][k]) for k in prompt_keys if r["model"][k].is_floating_point())
    assert "opt" not in c and c["iteration"] == 300
    assert "iteration 300" in c["provenance"]["note"] and "iteration 100" in c["provenance"]["note"]
    model, prov = load_checkpoint(tmp_path / "c.pt")  # what export.py does with it
    assert prov["note"] == c["provenance"]["note"]
    for k, v in model.prompt_net.state_dict().items():
        assert torch.equal(v, p["model"]["prompt_net." + k]), k


def test_mismatched_checkpoints_are_refused():
    tiny = seeded_checkpoint(1, 10)
    with pytest.raises(ValueError, match="different configs"):
        C.combine(tiny, dict(tiny, config={**tiny["config"], "name": "other"}), "x")
    renamed = dict(tiny, model={k.replace("prompt_net.", "prompt_nett."): v for k, v in tiny["model"].items()})
    with pytest.raises(ValueError, match="different tensors"):
        C.combine(tiny, renamed, "x")


def test_mis_shaped_prompt_tensor_is_refused():
    tiny = seeded_checkpoint(1, 10)
    key = next(k for k, v in tiny["model"].items() if k.startswith("prompt_net.") and v.dim() == 4)
    other = dict(tiny, model={**tiny["model"], key: torch.zeros(1, 1, 1, 1)})
    with pytest.raises(ValueError, match=re.escape(key)):
        C.combine(tiny, other, "x")


def test_missing_source_is_a_one_line_error(tmp_path):
    """A mistyped checkpoint name stops with one line naming it, and writes nothing."""
    real = _save(seeded_checkpoint(1, 10), tmp_path / "r.pt")
    with pytest.raises(SystemExit, match=re.escape(f"{tmp_path / 'nope.pt'}: no such checkpoint")):
        C.main(["--restorer", str(real), "--prompt-net", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "c.pt")])
    assert not (tmp_path / "c.pt").exists()
