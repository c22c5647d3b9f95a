"""Writes the unseen-dataset check's data (issue 31) OUTSIDE the repository: scikit-learn's bundled digits (8x8
grayscale, 1,797 images, 10 classes; shipped inside the scikit-learn package, no download) as an imagefolder tree
``OUT/{train,test}/<class>/<index>.png``, 400 images drawn at random (numpy seed 0) as the test split.

    python experiments/unseen-dataset/make_data.py /work/unseen-data/sklearn-digits
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def main(out: str) -> None:
    digits = load_digits()
    images = (digits.images * (255 / 16)).round().clip(0, 255).astype(np.uint8)  # 0..16 -> 0..255
    test = set(np.random.default_rng(0).permutation(len(digits.target))[:400].tolist())
    for i, (image, label) in enumerate(zip(images, digits.target, strict=True)):
        folder = Path(out) / ("test" if i in test else "train") / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"{i:04d}.png")


if __name__ == "__main__":
    main(sys.argv[1])
