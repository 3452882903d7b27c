"""training/average.py: the weight mean of checkpoints of one model."""

from __future__ import annotations

import pytest
import torch

from training import average as A
from training.export import load_checkpoint
from training.model import AllInOne
from training.tests.checkpoints import seeded_checkpoint


def test_mean_of_every_weight_keeps_the_last_counter(tmp_path):
    a, b = seeded_checkpoint(1, 100), seeded_checkpoint(2, 200)
    paths = [tmp_path / "a.pt", tmp_path / "b.pt"]
    for ck, p in zip((a, b), paths):
        torch.save(ck, p)
    A.main([*map(str, paths), "--out", str(tmp_path / "avg.pt")])
    out = torch.load(tmp_path / "avg.pt", weights_only=False)
    assert out["iteration"] == 200 and "opt" not in out
    assert "a.pt (iteration 100)" in out["provenance"]["note"]
    floats = [k for k, v in a["model"].items() if v.is_floating_point() and not torch.equal(v, b["model"][k])]
    assert floats  # the two seeds really differ
    for k in floats:
        assert torch.allclose(out["model"][k], (a["model"][k] + b["model"][k]) / 2)
    # the result loads as a model of the same config
    model, _ = load_checkpoint(tmp_path / "avg.pt")
    assert isinstance(model, AllInOne)


def test_mismatched_checkpoints_are_refused():
    with pytest.raises(ValueError, match="different config"):
        A.average([seeded_checkpoint(1, 1, "small"), seeded_checkpoint(2, 2)], "x")
    b = seeded_checkpoint(2, 2)
    b["model"] = dict(b["model"])
    k = next(k for k, v in b["model"].items() if v.ndim == 4)
    b["model"][k] = torch.zeros(1, 1, 1, 1)
    with pytest.raises(ValueError, match="shape"):
        A.average([seeded_checkpoint(1, 1), b], "x")
    with pytest.raises(ValueError, match="at least two"):
        A.average([b], "x")


def test_missing_source_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit, match="no such checkpoint"):
        A.main([str(tmp_path / "nope.pt"), str(tmp_path / "nope2.pt"), "--out", str(tmp_path / "o.pt")])
    assert not (tmp_path / "o.pt").exists()
