"""Checkpoint dictionaries as train.py writes them, for the tests of the tools that read
them (combine.py, average.py)."""

from __future__ import annotations

from dataclasses import asdict

import torch

from training.model import AllInOne, get_config


def seeded_checkpoint(seed: int, iteration: int, config: str = "tiny") -> dict:
    """A full checkpoint (empty optimizer state included) of freshly seeded weights: two
    seeds give different values in every float tensor, so a test can tell the sources of
    a mixed checkpoint apart."""
    torch.manual_seed(seed)
    model = AllInOne(get_config(config))
    return {
        "config": asdict(model.cfg),
        "model": model.state_dict(),
        "opt": {"state": {}},
        "iteration": iteration,
        "provenance": {"iterations": iteration},
    }
