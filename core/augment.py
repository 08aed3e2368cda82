"""Training copies that look like poor captures: small, blurry, faint scans of a digit.

Each copy is the digit shrunk to a few pixels, blurred, given a random ink level, background
and noise, enlarged again and passed through the service's own normalisation
(`core.imaging.normalise_many`), so the model learns from what that normalisation makes of
such scans. Seeded: the same images and seed give the same copies.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from core.imaging import ImageError, normalise_many

SIDES = (7, 14)
"""Smallest and largest side, in pixels, of the shrunk digit."""


def _scan(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = int(rng.integers(SIDES[0], SIDES[1] + 1))
    small = Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR)
    small = small.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.2, 1.0))))
    ink = np.asarray(small, dtype=np.float32) / 255
    level = rng.uniform(60, 255)
    background = rng.uniform(0, 40)
    grey = background + (level - background) * ink + rng.normal(0, rng.uniform(0, 5), ink.shape)
    if rng.random() < 0.5:  # dark ink on light paper, as most scans
        grey = 255 - grey
    big = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    size = side * int(rng.integers(2, 6))
    return np.asarray(big.resize((size, size), Image.Resampling.BICUBIC))


def low_resolution_copies(
    images: np.ndarray, labels: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 (n, 28, 28) digits → their low-resolution copies in MNIST form, their labels and
    the index of the digit each copy was made from.

    A copy in which normalisation finds no digit is left out (fewer rows than given).
    """
    rng = np.random.default_rng(seed)
    digits = normalise_many([_scan(d, rng) for d in np.asarray(images, dtype=np.uint8)])
    keep = [i for i, d in enumerate(digits) if not isinstance(d, ImageError)]
    if not keep:
        empty = np.empty(0, dtype=np.int64)
        return np.empty((0, 28, 28), dtype=np.uint8), empty, empty.copy()
    kept = np.array(keep, dtype=np.int64)
    return np.stack([digits[i] for i in keep]), np.asarray(labels)[kept].astype(np.int64), kept


def jittered_copies(images: np.ndarray, copies: int, seed: int = 0) -> np.ndarray:
    """`copies` slightly moved versions of each uint8 (n, 28, 28) digit, copy-major
    ((copies * n, 28, 28)): turned up to 8 degrees, scaled by 0.9-1.1, shifted up to a pixel.
    They make a few hundred extra digits (corrections) weigh like a few thousand without
    teaching the model their exact pixels."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    images = np.asarray(images, dtype=np.float32)
    out = np.empty((copies * len(images), 28, 28), dtype=np.uint8)
    centre = np.array([13.5, 13.5])
    for k in range(copies):
        for i, digit in enumerate(images):
            angle = np.deg2rad(rng.uniform(-8, 8))
            scale = rng.uniform(0.9, 1.1)
            turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            matrix = turn / scale
            offset = centre - matrix @ (centre + rng.uniform(-1, 1, 2))
            moved = ndimage.affine_transform(digit, matrix, offset, order=1, mode="constant")
            out[k * len(images) + i] = np.clip(moved + 0.5, 0, 255).astype(np.uint8)
    return out
