"""Which files a `FILE_OR_DIR...` argument means, shared by `mnistq predict` and `mnistq submit`."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"})


def collect_images(paths: Iterable[str | Path], prog: str) -> list[tuple[str, Path]]:
    """(display name, path) per file: a file named on the command line is taken as it is
    (a non-image gets its per-file error later); a folder gives the image files below it,
    sorted, named relative to the folder, so a `labels.csv` beside the digits is left out."""
    found: list[tuple[str, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += [
                (child.relative_to(path).as_posix(), child)
                for child in sorted(path.rglob("*"))
                if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES
                and not child.name.startswith(".")
            ]
        elif path.is_file():
            found.append((str(path), path))
        else:
            print(f"{prog}: {raw}: no such file or folder (skipped)", file=sys.stderr)
    return found
