"""A folder of images with their true digits: `labels.csv` (`filename,label[,kind]`) beside them.

`kind` groups the images for the report (e.g. `notebook`, `form`); without it every image is
of kind `all`. File names are taken only as names inside the folder: no paths, no `..`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

LABELS_FILE = "labels.csv"
DEFAULT_KIND = "all"


class LabelsError(ValueError):
    """A labels.csv that cannot be used: missing, malformed, or naming a missing image."""


@dataclass(frozen=True)
class LabelledImage:
    filename: str
    path: Path
    label: int
    kind: str


def _row(folder: Path, line: int, row: dict[str, str | None], where: str) -> LabelledImage:
    name = (row.get("filename") or "").strip()
    raw_label = (row.get("label") or "").strip()
    kind = (row.get("kind") or "").strip() or DEFAULT_KIND
    if not name or Path(name).name != name or name in (".", ".."):
        raise LabelsError(f"{where} line {line}: filename {name!r} is not a file name in {folder}")
    if raw_label not in tuple("0123456789"):
        raise LabelsError(f"{where} line {line}: label {raw_label!r} is not a digit 0-9")
    path = folder / name
    if not path.is_file():
        raise LabelsError(f"{where} line {line}: {name} not found beside it")
    return LabelledImage(name, path, int(raw_label), kind)


def read_labelled_set(folder: Path) -> list[LabelledImage]:
    """The images listed in `folder/labels.csv`, in its order; LabelsError says what is wrong."""
    folder = Path(folder)
    where = str(folder / LABELS_FILE)
    try:
        text = (folder / LABELS_FILE).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})") \
            from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    if columns[:2] != ["filename", "label"]:
        raise LabelsError(f"{where}: the header must be `filename,label[,kind]`, got "
                          f"{','.join(columns) or 'nothing'}")
    reader.fieldnames = columns
    images = [_row(folder, number + 2, row, where) for number, row in enumerate(reader)]
    if not images:
        raise LabelsError(f"{where}: no images listed")
    return images
