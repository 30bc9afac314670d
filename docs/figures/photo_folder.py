"""An RGB image folder from the colour photographs bundled with scikit-image, for colorization offline.

  pip install scikit-image && python docs/figures/photo_folder.py runs/photos

Writes DIR/train/<photo>/<n>.png and DIR/val/<photo>/<n>.png: square crops of a random side between a quarter
and a half of each photograph's shorter side, resized to 64 px, from the left 80 % of its width for train and
from the right 20 % for val (no pixel in both), seeded. The photograph's name is the class label, so kNN and
the probes have something to find.
"""

import os
import sys

import numpy as np
import skimage.data
from PIL import Image

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
CROPS = {"train": 400, "val": 50}
SIDE = 64


def crops(photo: np.ndarray, count: int, columns: slice, rng) -> list[np.ndarray]:
    """`count` random square crops of the columns `columns` of `photo`, resized to SIDE."""
    part = photo[:, columns]
    height, width = part.shape[:2]
    out = []
    for _ in range(count):
        side = int(rng.integers(min(height, width) // 4, min(height, width) // 2 + 1))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        tile = Image.fromarray(part[top : top + side, left : left + side])
        out.append(np.asarray(tile.resize((SIDE, SIDE), Image.BICUBIC)))
    return out


def main(root: str) -> None:
    rng = np.random.default_rng(0)
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()[..., :3]
        split_column = int(photo.shape[1] * 0.8)
        for split, columns in (("train", slice(0, split_column)), ("val", slice(split_column, None))):
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for index, tile in enumerate(crops(photo, CROPS[split], columns, rng)):
                Image.fromarray(tile).save(os.path.join(folder, f"{index}.png"))


if __name__ == "__main__":
    main(sys.argv[1])
