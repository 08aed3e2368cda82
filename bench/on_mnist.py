"""How the model reads the very MNIST test digits an evaluation set was made from.

`eval.make` names each capture's digit in `labels.csv` (`mnist_index`), `eval.numbers` each
number's digits (`mnist_indices`, separated by spaces). What the model misreads there, no
capture front-end or segmentation can read right: a set's accuracy minus this one is what
the page itself costs (the paper, the lines, the cutting), the rest is the model's.

A number set's kinds other than `clean` are written in another hand (`eval.make._writer`:
an elastic distortion, a finer or bolder pen), which can make a digit the model reads on
MNIST into another one. `written_right` reads each digit as the number's writer drew it,
alone (`eval.numbers.written`): a set's accuracy minus that one is what the page costs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data import load_split
from core.imaging import normalise
from core.model import DigitModel
from eval.numbers import written


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


def written_right(rows: list[dict[str, str]], seed: int, model: DigitModel,
                  data_dir: Path) -> np.ndarray | None:
    """Per row of a number set (`eval.numbers`: `filename` `<kind>_<n>.<ext>`,
    `mnist_indices`), whether the model reads every digit as the number's writer drew it
    (its ink alone, normalised as a single digit is) as its label; None unless every row
    was made with `seed` (its digits are the ones that seed draws)."""
    if not rows or not all((row.get("mnist_indices") or "").strip() for row in rows):
        return None
    images, labels = load_split(data_dir, "test")
    out = np.zeros(len(rows), dtype=bool)
    for r, row in enumerate(rows):
        kind, _, n = Path(row["filename"]).stem.rpartition("_")
        if not n.isdigit():
            return None
        chosen, inks = written(kind, seed, int(n), images)
        if chosen.tolist() != [int(i) for i in row["mnist_indices"].split()]:
            return None  # made with another seed, or elsewhere
        read = model.predict(np.stack([normalise(ink * np.float32(255.0)) for ink in inks]))
        out[r] = bool(np.all(np.asarray(read.labels) == labels[chosen]))
    return out
