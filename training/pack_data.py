"""Copy the training images into a folder of the checkout for a time-limited GPU run.

    python training/pack_data.py --out data-cache --urban 16

Where only a copy of the checkout (64 MiB at most) reaches the GPU machine,
../shared/data/train (116 MB, urban60 alone 79 MB) does not fit. So bsd390 (JPEG) and train400 (grey PNG) are copied
unchanged, and the first N urban60 images are re-encoded as JPEG quality 95 without chroma
subsampling (about 0.5 MB each; 45.8 dB against the PNG on the first six, far above the
35-40 dB the model keeps of a clean photo, and bsd390 is JPEG already). The folder has
the layout of ../shared/data, so train.py takes it as --data-root. `/data-cache/` is in
.gitignore: the copy is never committed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

from PIL import Image  # noqa: E402

from .data import DATA_ROOT, list_images  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=DATA_ROOT)
    ap.add_argument("--out", type=Path, default=Path("data-cache"))
    ap.add_argument("--urban", type=int, default=16, help="how many urban60 images to include (re-encoded)")
    ap.add_argument("--quality", type=int, default=95)
    a = ap.parse_args(argv)
    total = 0
    for folder in ("train/bsd390", "train/train400"):
        dst = a.out / folder
        dst.mkdir(parents=True, exist_ok=True)
        for p in list_images(a.data_root / folder):
            shutil.copyfile(p, dst / p.name)
            total += p.stat().st_size
    dst = a.out / "train/urban60"
    dst.mkdir(parents=True, exist_ok=True)
    for p in list_images(a.data_root / "train/urban60")[: a.urban]:
        q = dst / (p.stem + ".jpg")
        with Image.open(p) as im:
            im.convert("RGB").save(q, "JPEG", quality=a.quality, subsampling=0)
        total += q.stat().st_size
    print(f"wrote {a.out}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
