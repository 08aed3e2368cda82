"""How the model reads the very MNIST test digits an evaluation set was made from.

`eval.make` names each capture's digit in `labels.csv` (`mnist_index`), `eval.numbers` each
number's digits (`mnist_indices`, separated by spaces). What the model misreads there, no
capture front-end or segmentation can read right: a set's accuracy minus this one is what
the page itself costs (the paper, the lines, the cutting), the rest is the model's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data import load_split
from core.model import DigitModel


def read_right(rows: list[dict[str, str]], column: str, model: DigitModel,
               data_dir: Path) -> np.ndarray | None:
    """Per row, whether the model reads every MNIST test digit the row names in `column` as
    its label; None when a row names none (a set made elsewhere)."""
    if not rows or not all((row.get(column) or "").strip() for row in rows):
        return None
    images, labels = load_split(data_dir, "test")
    picked = [np.array(row[column].split(), dtype=np.intp) for row in rows]
    every = np.concatenate(picked)
    right = model.predict(images[every]).labels == labels[every]
    starts = np.concatenate(([0], np.cumsum([len(p) for p in picked])[:-1]))
    return np.logical_and.reduceat(right, starts)
