"""Extra training digits: the folder `mnistq corrections export` writes and `mnistq train
--extra` reads.

    DIR/images-idx3-ubyte.gz   uint8 (n, 28, 28), MNIST form (white on black, before deskew)
    DIR/labels-idx1-ubyte.gz   uint8 (n,), the true digits
    DIR/labels.csv             for people: index,label,prediction,model,kind,created_at

The two idx files are MNIST's own format (core/data.py reads and writes them), so any tool
that reads MNIST reads an export; `labels.csv` is not needed to train. A share of the extra
digits is held out, by a seeded draw, to measure what training on the rest taught.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.data import IMAGES_MAGIC, LABELS_MAGIC, DataError, read_idx, write_idx

IMAGES_FILE = "images-idx3-ubyte.gz"
LABELS_FILE = "labels-idx1-ubyte.gz"
TABLE_FILE = "labels.csv"
TABLE_COLUMNS = ("index", "label", "prediction", "model", "kind", "created_at")
HOLDOUT_SHARE = 0.2
"""Share of the extra digits held out of training to evaluate the new model on."""


@dataclass(frozen=True)
class ExtraSet:
    """Extra digits with their true labels, from one or more folders."""

    images: np.ndarray
    """uint8 (n, 28, 28)."""
    labels: np.ndarray
    """int64 (n,)."""
    sources: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> ExtraSet:
        return ExtraSet(self.images[index], self.labels[index], self.sources)

    def split(self, share: float = HOLDOUT_SHARE, seed: int = 0) -> tuple[ExtraSet, ExtraSet]:
        """(to train on, held out): a seeded `share` of the digits held out, the same
        digits for the same set and seed."""
        order = np.random.default_rng(seed).permutation(len(self))
        held = round(len(self) * share)
        return self.subset(np.sort(order[held:])), self.subset(np.sort(order[:held]))


def write_extra_set(
    out: Path, images: np.ndarray, labels: Sequence[int], rows: Sequence[dict[str, Any]]
) -> Path:
    """Write the idx pair and `labels.csv` (one row per digit, TABLE_COLUMNS) in `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
    write_idx(out / IMAGES_FILE, images)
    write_idx(out / LABELS_FILE, np.asarray(labels, dtype=np.uint8))
    with (out / TABLE_FILE).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLE_COLUMNS, extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows({"index": i, **row} for i, row in enumerate(rows))
    return out


def read_extra_set(folder: Path) -> ExtraSet:
    """One exported folder; DataError names the file when it is missing or malformed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (make one with `mnistq corrections export "
                        "--out DIR`)")
    images = read_idx(folder / IMAGES_FILE, IMAGES_MAGIC)
    labels = read_idx(folder / LABELS_FILE, LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{folder / IMAGES_FILE}: images of {images.shape[1:]} pixels, not 28x28")
    if len(images) != len(labels):
        raise DataError(f"{folder}: {len(images)} images but {len(labels)} labels")
    return ExtraSet(images, labels.astype(np.int64), (str(folder),))


def read_extra_sets(folders: Sequence[Path]) -> ExtraSet:
    """Several exported folders as one set, in the order given."""
    sets = [read_extra_set(folder) for folder in folders]
    if not sets:
        return ExtraSet(np.empty((0, 28, 28), np.uint8), np.empty(0, np.int64))
    return ExtraSet(np.concatenate([s.images for s in sets]),
                    np.concatenate([s.labels for s in sets]),
                    tuple(src for s in sets for src in s.sources))
