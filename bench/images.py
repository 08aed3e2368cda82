"""The images the benchmarks upload: MNIST test digits as PNG files, and as 400x400 photos.

PNGs are exact exports of the test images (what `mnistq export-samples` writes), so our
stack and the baseline see the same bytes and the accuracy is comparable with
`mnistq evaluate`. The "photos" are the digits drawn large in dark ink on uneven light
paper with sensor noise, saved as JPEG: what a phone upload costs to decode and normalise.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from core.data import load_split


def test_set(data_dir: Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    return load_split(data_dir, "test", limit=limit)


def png_files(images: np.ndarray) -> list[tuple[str, bytes]]:
    """`(filename, bytes)` of each uint8 (28, 28) image saved as PNG (mode L)."""
    files = []
    for i, image in enumerate(images):
        out = io.BytesIO()
        Image.fromarray(image).save(out, "PNG")
        files.append((f"test{i:05d}.png", out.getvalue()))
    return files


def photo_files(images: np.ndarray, side: int = 400, seed: int = 0) -> list[tuple[str, bytes]]:
    """`(filename, bytes)` of each digit as a side x side JPEG photo of ink on paper."""
    rng = np.random.default_rng(seed)
    files = []
    yy, xx = np.mgrid[:side, :side] / side
    for i, image in enumerate(images):
        big = np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR))
        paper = 215 + 25 * (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
        ink = paper - big.astype(np.float64) * 0.75
        noisy = ink + rng.normal(0, 6, ink.shape)
        rgb = np.clip(np.stack([noisy, noisy * 0.98, noisy * 0.95], axis=-1), 0, 255)
        out = io.BytesIO()
        Image.fromarray(rgb.astype(np.uint8), "RGB").save(out, "JPEG", quality=85)
        files.append((f"photo{i:05d}.jpg", out.getvalue()))
    return files


def phone_files(images: np.ndarray, seed: int = 0) -> list[tuple[str, bytes]]:
    """`(filename, bytes)` of each digit written on ruled notebook paper and photographed
    at 12 megapixels (4000x3000 JPEG): the largest upload a phone makes."""
    from eval.make import PHONE_SIZE, notebook

    return [(f"phone{i:03d}.jpg",
             notebook(image, np.random.default_rng([seed, i]), PHONE_SIZE[0], PHONE_SIZE).data)
            for i, image in enumerate(images)]


def multipart(files: list[tuple[str, bytes]], field: str = "files") -> tuple[bytes, str]:
    """A multipart/form-data body with one part per file, and its Content-Type header.

    Built once up front, so the client's own encoding never counts in a measurement.
    """
    boundary = "mnistqbench" + "0123456789abcdef" * 2
    parts = []
    for name, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + data + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
