"""A chunk's values in Redis: its uploaded files, and its results' normalised digits, each
packed in one bytes value (one hash field per chunk instead of one per image)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np


def pack_files(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A chunk's `(filename, bytes)` as one value: the lengths of the names, then of the
    files (uint32, little-endian), then the names (UTF-8), then the files' bytes.

    One value per chunk instead of a hash field per image and a list of names: a sixth of
    Redis's CPU for storing, fetching and deleting a chunk, one reply to parse instead of
    hundreds, and no 10,000-name write before a job's first chunk can start.
    """
    names = [name.encode("utf-8", "replace") for name, _ in files]
    datas = [data for _, data in files]
    head = struct.pack(f"<{2 * len(files)}I", *map(len, names), *map(len, datas))
    return head + b"".join(names) + b"".join(datas)


def unpack_files(packed: bytes, count: int) -> list[tuple[str, bytes]]:
    """The `count` `(filename, bytes)` of a `pack_files` value."""
    lengths = struct.unpack_from(f"<{2 * count}I", packed)
    if 8 * count + sum(lengths) != len(packed):
        raise ValueError(f"packed chunk of {len(packed)} bytes does not hold {count} files")
    pieces, offset = [], 8 * count
    for length in lengths:
        pieces.append(packed[offset:offset + length])
        offset += length
    return [(name.decode("utf-8", "replace"), data)
            for name, data in zip(pieces[:count], pieces[count:], strict=True)]


DIGIT_SHAPE = (28, 28)
_PIXELS = DIGIT_SHAPE[0] * DIGIT_SHAPE[1]
_MASK_BYTES = _PIXELS // 8


def pack_digits(per_result: Sequence[Sequence[np.ndarray]]) -> bytes:
    """The normalised digits of a chunk's results (none, one, or one per digit of a number
    each) as one value: the result count (uint32), each result's digit count (uint16), a
    bit mask of the non-zero pixels of every digit, then those pixels' values.

    MNIST-form digits are four-fifths black: this is a third of their 784 bytes, packed and
    unpacked with a few array operations per chunk (zlib: a quarter fewer bytes at 4.4 times
    the CPU; `python -m bench hotpaths`)."""
    counts = [len(images) for images in per_result]
    head = struct.pack(f"<I{len(counts)}H", len(counts), *counts)
    if not sum(counts):
        return head
    flat = np.stack([image for images in per_result for image in images]).reshape(-1, _PIXELS)
    ink = flat != 0
    return head + np.packbits(ink, axis=1).tobytes() + flat[ink].tobytes()


def unpack_digits(packed: bytes) -> list[list[np.ndarray]]:
    """Per result, its normalised digits (uint8 (28, 28) each) from a `pack_digits` value."""
    (n,) = struct.unpack_from("<I", packed)
    counts = struct.unpack_from(f"<{n}H", packed, 4)
    total, offset = sum(counts), 4 + 2 * n
    masks = np.frombuffer(packed, np.uint8, total * _MASK_BYTES, offset)
    ink = np.unpackbits(masks.reshape(total, _MASK_BYTES), axis=1).astype(bool)
    values = np.frombuffer(packed, np.uint8, offset=offset + total * _MASK_BYTES)
    if values.size != int(ink.sum()):
        raise ValueError(f"packed digits of {len(packed)} bytes do not hold {total} digits")
    flat = np.zeros((total, _PIXELS), np.uint8)
    flat[ink] = values
    digits = list(flat.reshape(total, *DIGIT_SHAPE))
    out, start = [], 0
    for count in counts:
        out.append(digits[start:start + count])
        start += count
    return out
