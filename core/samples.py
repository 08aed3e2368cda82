"""The `images_test/` samples: one MNIST test image per digit, as the files a user uploads.

They are exact copies of the test images (PNG, mode L), so predicting them locally, through
the API or the page must give what the model gives on the arrays themselves.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

LABELS_FILE = "labels.csv"


def sample_name(digit: int, index: int) -> str:
    """File name carrying the label and the test-set index, e.g. `digit0_test3.png`."""
    return f"digit{digit}_test{index}.png"


def export_samples(images: np.ndarray, labels: np.ndarray, out_dir: Path) -> list[Path]:
    """Write the first test image of each digit 0-9 as PNG plus `labels.csv`; their paths.

    The PNGs come first in digit order, `labels.csv` (header `filename,label`) last.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, written = [], []
    for digit in range(10):
        found = np.flatnonzero(labels == digit)
        if found.size == 0:
            raise ValueError(f"no image of digit {digit} among the {len(labels)} given")
        index = int(found[0])
        path = out_dir / sample_name(digit, index)
        Image.fromarray(np.ascontiguousarray(images[index], dtype=np.uint8)).save(path, "PNG")
        rows.append((path.name, digit))
        written.append(path)
    labels_path = out_dir / LABELS_FILE
    with labels_path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("filename", "label"))
        writer.writerows(rows)
    written.append(labels_path)
    return written
