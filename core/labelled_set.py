"""A folder of images with their true digits: `labels.csv` (`filename,label[,kind]`) beside them.

`kind` groups the images for the report (e.g. `notebook`, `form`); without it every image is
of kind `all`. File names are taken only as names inside the folder: no paths, no `..`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

LABELS_FILE = "labels.csv"
DEFAULT_KIND = "all"
T = TypeVar("T")


class LabelsError(ValueError):
    """A labels.csv that cannot be used: missing, malformed, or naming a missing image."""


@dataclass(frozen=True)
class LabelledImage:
    filename: str
    path: Path
    label: int
    kind: str


def read_labels(
    folder: Path, value_column: str, parse: Callable[[str], T],
    error: type[ValueError] = LabelsError,
) -> list[tuple[str, Path, T, str]]:
    """`(filename, path, value, kind)` of each row of `folder/labels.csv`, in its order, whose
    header is `filename,<value_column>[,kind]`. `parse` turns a raw value into the value or
    raises ValueError with the reason; anything wrong is raised as `error`, saying where."""
    folder = Path(folder)
    where = str(folder / LABELS_FILE)
    reader = labels_rows(folder, error)
    columns = list(reader.fieldnames or [])
    if columns[:2] != ["filename", value_column]:
        raise error(f"{where}: the header must be `filename,{value_column}[,kind]`, got "
                    f"{','.join(columns) or 'nothing'}")
    rows = []
    for line, row in enumerate(reader, start=2):
        name = (row.get("filename") or "").strip()
        raw = (row.get(value_column) or "").strip()
        kind = (row.get("kind") or "").strip() or DEFAULT_KIND
        if not name or Path(name).name != name or name in (".", ".."):
            raise error(f"{where} line {line}: filename {name!r} is not a file name in {folder}")
        try:
            value = parse(raw)
        except ValueError as exc:
            raise error(f"{where} line {line}: {exc}") from None
        path = folder / name
        if not path.is_file():
            raise error(f"{where} line {line}: {name} not found beside it")
        rows.append((name, path, value, kind))
    if not rows:
        raise error(f"{where}: no images listed")
    return rows


def labels_rows(folder: Path, error: type[ValueError] = LabelsError) -> csv.DictReader[str]:
    """The rows of `folder/labels.csv` as dicts, its column names stripped (a set may carry
    columns beyond those read here: `eval.numbers` writes each number's MNIST indices);
    `error` says why it cannot be read."""
    where = str(Path(folder) / LABELS_FILE)
    try:
        text = (Path(folder) / LABELS_FILE).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})") \
            from None
    reader = csv.DictReader(text.splitlines())
    reader.fieldnames = [c.strip() for c in reader.fieldnames or []]
    return reader


def _digit(raw: str) -> int:
    if raw not in tuple("0123456789"):
        raise ValueError(f"label {raw!r} is not a digit 0-9")
    return int(raw)


def read_labelled_set(folder: Path) -> list[LabelledImage]:
    """The images listed in `folder/labels.csv`, in its order; LabelsError says what is wrong."""
    return [LabelledImage(*row) for row in read_labels(folder, "label", _digit)]
