"""Self-ensemble ("x8" test-time augmentation): restore the image under each of the 8
symmetries of the square (4 rotations, each with and without a left-right mirror), undo
each symmetry on its result, and average. The network is not equivariant to these, so the
8 results differ a little and their mean has less residual noise (measured in
docs/training.md). The Rust runtime (src/ensemble.rs) implements the same order and the
same conventions, and tests/e2e.rs checks it against fixtures made with this function.

Conventions: symmetry (k, mirror) is torch.rot90(x, k, dims=(2, 3)) and then, when
mirror, x.flip(3); the Prompt Net's probabilities are computed once, on the image as given.
"""

from collections.abc import Callable

import torch

SYMMETRIES = tuple((k, mirror) for k in range(4) for mirror in (False, True))


def apply(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    x = torch.rot90(x, k, (2, 3))
    return x.flip(3) if mirror else x


def invert(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    if mirror:
        x = x.flip(3)
    return torch.rot90(x, -k, (2, 3))


def self_ensemble(restore_once: Callable[[torch.Tensor], torch.Tensor], img: torch.Tensor) -> torch.Tensor:
    """Mean of invert(restore_once(apply(img))) over SYMMETRIES, summed in that order."""
    total = None
    for k, mirror in SYMMETRIES:
        out = invert(restore_once(apply(img, k, mirror)), k, mirror)
        total = out if total is None else total + out
    return total / len(SYMMETRIES)
