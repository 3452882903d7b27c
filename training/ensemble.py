"""Self-ensemble (test-time augmentation): restore the image under several symmetries of
the square (rotations by quarter turns, each with and without a left-right mirror), undo
each symmetry on its result, and average. The network is not equivariant to these, so the
results differ a little and their mean keeps less residual noise. The Rust runtime
(src/ensemble.rs) implements the same choice, order and conventions, and tests/e2e.rs
checks it against fixtures made with this module.

Only symmetries that keep every detected degradation looking like its training data are
used: the synthesis in data.py runs after the flips and rotations of augmentation, so rain
always falls within 30 degrees of vertical and haze always thickens towards the top of the
frame. A quarter turn makes rain run sideways and a half turn puts the haze at the bottom;
the network has never seen either and restores them badly (all 8 symmetries on rain cost
2.3-3.0 dB, docs/training.md). So: noise alone (or nothing) uses all 8, rain the 4 that are
half turns or mirrors, haze the 2 mirrors; a type not listed here, the 2 mirrors.

Conventions: symmetry (k, mirror) is torch.rot90(x, k, dims=(2, 3)) and then, when
mirror, x.flip(3); the Prompt Net's probabilities are computed once, on the image as given.
"""

from collections.abc import Callable, Sequence

import torch

SYMMETRIES = tuple((k, mirror) for k in range(4) for mirror in (False, True))
MIRRORS = ((0, False), (0, True))
# The symmetries that keep each degradation type looking like its training data.
KEEPS = {
    "noise": SYMMETRIES,
    "rain": tuple(s for s in SYMMETRIES if s[0] % 2 == 0),
    "haze": MIRRORS,
}
THRESHOLD = 0.5  # a type counts as present from this probability on (as in detection)


def symmetries_for(names: Sequence[str], probs: Sequence[float]) -> tuple:
    """The symmetries kept by every type present (probability >= THRESHOLD), in SYMMETRIES order."""
    keep = SYMMETRIES
    for name, p in zip(names, probs):
        if p >= THRESHOLD:
            allowed = KEEPS.get(name, MIRRORS)
            keep = tuple(s for s in keep if s in allowed)
    return keep


def apply(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    x = torch.rot90(x, k, (2, 3))
    return x.flip(3) if mirror else x


def invert(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    if mirror:
        x = x.flip(3)
    return torch.rot90(x, -k, (2, 3))


def self_ensemble(
    restore_once: Callable[[torch.Tensor], torch.Tensor], img: torch.Tensor, symmetries: Sequence = SYMMETRIES
) -> torch.Tensor:
    """Mean of invert(restore_once(apply(img))) over `symmetries`, summed in that order."""
    total = None
    for k, mirror in symmetries:
        out = invert(restore_once(apply(img, k, mirror)), k, mirror)
        total = out if total is None else total + out
    return total / len(symmetries)


def ensemble_for(names: Sequence[str], probs: torch.Tensor, restore_once, img: torch.Tensor) -> torch.Tensor:
    """self_ensemble over the symmetries that `probs` (one image's) allow."""
    return self_ensemble(restore_once, img, symmetries_for(names, probs.flatten().tolist()))
