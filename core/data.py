"""Reading and verifying the MNIST idx files (gzip or raw).

Integrity is checked on the decompressed bytes, so the same SHA-256 table serves the
official downloads and re-packed copies alike. Every failure is a `DataError` that names
the file; callers never see a numpy traceback for a bad file.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Split = Literal["train", "test"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


@dataclass(frozen=True)
class MnistFile:
    """One of the four files: its name, its record count and the SHA-256 of its content."""

    name: str
    count: int
    sha256: str
    """SHA-256 of the decompressed idx bytes."""
    gz_sha256: str
    """SHA-256 of the official .gz download."""


FILES: dict[tuple[Split, str], MnistFile] = {
    ("train", "images"): MnistFile(
        "train-images-idx3-ubyte.gz", 60_000,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    ("train", "labels"): MnistFile(
        "train-labels-idx1-ubyte.gz", 60_000,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    ("test", "images"): MnistFile(
        "t10k-images-idx3-ubyte.gz", 10_000,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    ("test", "labels"): MnistFile(
        "t10k-labels-idx1-ubyte.gz", 10_000,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}


class DataError(Exception):
    """A missing, corrupted, truncated or wrong MNIST file."""


def _locate(data_dir: Path, spec: MnistFile) -> Path:
    """The file in `data_dir`, gzipped or already decompressed."""
    for candidate in (data_dir / spec.name, data_dir / spec.name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    raise DataError(f"{data_dir / spec.name}: file not found (run `mnistq data fetch`)")


def decompress_idx(raw: bytes) -> bytes:
    """idx content from a file's bytes, gzip or raw (OSError, EOFError, zlib.error if bad)."""
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def read_idx_bytes(path: Path) -> bytes:
    """The decompressed content of an idx file, gzip or raw."""
    try:
        return decompress_idx(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def parse_idx(content: bytes, magic: int, name: str) -> np.ndarray:
    """Parse idx content with the expected magic number into a uint8 array of its shape."""
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise DataError(f"{name}: truncated header ({len(content)} bytes)")
    found = struct.unpack(">I", content[:4])[0]
    if found != magic:
        raise DataError(f"{name}: bad magic number {found}, expected {magic}")
    shape = struct.unpack(f">{ndim}I", content[4:header_size])
    expected = header_size + int(np.prod(shape))
    if len(content) != expected:
        raise DataError(
            f"{name}: {len(content)} bytes, expected {expected} for shape {tuple(shape)}"
        )
    data = np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(shape)
    if magic == LABELS_MAGIC and data.size and int(data.max()) > 9:
        raise DataError(f"{name}: label {int(data.max())} is not a digit")
    return data


def idx_bytes(array: np.ndarray) -> bytes:
    """uint8 images (n, 28, 28) or labels (n,) as idx content (`parse_idx` reads it back)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if array.ndim not in (1, 3):
        raise ValueError(f"idx arrays are labels (n,) or images (n, h, w), not {array.shape}")
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write `array` as an idx file, gzipped when `path` ends in .gz (as MNIST's own)."""
    content = idx_bytes(array)
    path = Path(path)
    path.write_bytes(gzip.compress(content, mtime=0) if path.suffix == ".gz" else content)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An idx file (gzip or raw) with the expected magic number; DataError names the file."""
    return parse_idx(read_idx_bytes(Path(path)), magic, str(path))


def _load(data_dir: Path, split: Split, kind: str, verify: bool) -> np.ndarray:
    spec = FILES[(split, kind)]
    path = _locate(Path(data_dir), spec)
    content = read_idx_bytes(path)
    if verify:
        digest = hashlib.sha256(content).hexdigest()
        if digest != spec.sha256:
            raise DataError(f"{path}: SHA-256 {digest} does not match the expected {spec.sha256}")
    magic = IMAGES_MAGIC if kind == "images" else LABELS_MAGIC
    array = parse_idx(content, magic, str(path))
    if array.shape[0] != spec.count or (kind == "images" and array.shape[1:] != (28, 28)):
        raise DataError(f"{path}: shape {array.shape} is not MNIST's")
    return array


def load_split(
    data_dir: Path, split: Split, limit: int | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (n, 28, 28) and labels uint8 (n,) of one split, the first `limit` of them."""
    images = _load(data_dir, split, "images", verify)
    labels = _load(data_dir, split, "labels", verify)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def verify_data_dir(data_dir: Path) -> list[str]:
    """Check all four files; return one line per file, raise `DataError` on the first bad one."""
    lines = []
    for (split, kind), spec in FILES.items():
        array = _load(Path(data_dir), split, kind, verify=True)
        lines.append(f"ok  {spec.name}: {array.shape[0]} {kind}, sha256 {spec.sha256[:12]}…")
    return lines
