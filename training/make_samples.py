"""Write the demo images in assets/samples/ (degraded versions of scikit-image's
public-domain / CC0 sample photos: chelsea, coffee, astronaut), seeded.

    python training/make_samples.py      # needs `pip install scikit-image` once
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from . import data as D  # noqa: E402

OUT = D.REPO / "assets" / "samples"


def load(name: str, width: int) -> np.ndarray:
    from skimage import data as skdata

    img = Image.fromarray(getattr(skdata, name)())
    h = round(img.height * width / img.width)
    return D.to_float(np.asarray(img.convert("RGB").resize((width, h), Image.LANCZOS)))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    jobs = [
        ("rainy", "chelsea", 384, ("rain",)),
        ("noisy", "astronaut", 320, ("noise",)),
        ("hazy", "coffee", 384, ("haze",)),
        ("hazy-rainy", "chelsea", 384, ("haze", "rain")),
    ]
    for i, (out, src, width, kinds) in enumerate(jobs):
        rng = np.random.default_rng(100 + i)
        clean = load(src, width)
        if kinds == ("noise",):
            degraded = D.add_noise(clean, 25.0, rng)
        else:
            degraded, _ = D.degrade(clean, kinds, rng)
        Image.fromarray(D.to_uint8(degraded)).save(OUT / f"{out}.png", optimize=True)
        print(f"{out}.png: {src} {degraded.shape[1]}x{degraded.shape[0]} with {'+'.join(kinds)}")


if __name__ == "__main__":
    main()
