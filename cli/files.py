"""Which files a `FILE_OR_DIR...` argument means, shared by `mnistq predict` and `mnistq submit`."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp",
                            ".heic", ".heif"})


@dataclass
class Collected:
    """The files found, as (display name, path), and the arguments that named nothing."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def collect_images(paths: Iterable[str | Path], prog: str) -> Collected:
    """(display name, path) per file: a file named on the command line is taken as it is
    (a non-image gets its per-file error later); a folder gives the image files below it,
    sorted, named relative to the folder, so a `labels.csv` beside the digits is left out.
    An argument that is neither is reported on stderr and listed in `missing`."""
    found = Collected()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.files += [
                (child.relative_to(path).as_posix(), child)
                for child in sorted(path.rglob("*"))
                if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES
                and not child.name.startswith(".")
            ]
        elif path.is_file():
            found.files.append((str(path), path))
        else:
            print(f"{prog}: {raw}: no such file or folder", file=sys.stderr)
            found.missing.append(str(raw))
    return found
