"""training/prompt_probe.py on a tiny random model and a written validation set."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from training import prompt_probe as P
from training.model import AllInOne, get_config


def test_probe_reports_every_vector_and_notices_a_prompt_that_matters(tmp_path):
    torch.manual_seed(0)
    net = AllInOne(get_config("tiny")).eval()
    ck = tmp_path / "tiny.pt"
    torch.save({"config": "tiny", "model": net.state_dict()}, ck)
    rng = np.random.default_rng(0)
    for sub in ("input", "target"):
        (tmp_path / "v" / "noise15" / sub).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), np.uint8)).save(tmp_path / "v" / "noise15" / sub / "a.png")
    P.main([str(ck), "noise15/a", "--valsets", str(tmp_path / "v"), "--json", str(tmp_path / "p.json")])
    row = json.loads((tmp_path / "p.json").read_text())["noise15/a"]
    assert set(row) == {"own", "prompt_net", "0,0,0", "1,0,0", "0,1,0", "1,1,0", "0,0,1"}
    assert len(row["prompt_net"]) == 3 and all(0 <= p <= 1 for p in row["prompt_net"])
    # A random restorer's prompt weights are not zero: forcing the vector changes the image.
    assert len({round(row[k], 6) for k in ("0,0,0", "1,0,0", "0,1,0")}) > 1
