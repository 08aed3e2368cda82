"""Training copies that look like what users send: other hands, other pens, poor scans.

Two kinds of copy of a training digit, each passed through the service's own normalisation
(`core.imaging.normalise_many`), so the model learns from what that normalisation makes of
such images:
- low-resolution copies: the digit shrunk to a few pixels, blurred, given a random ink level,
  background and noise, enlarged again (small, blurry, faint scans);
- other-hand copies: the digit elastically distorted (Simard, Steinkraus and Platt 2003), its
  pen made finer or bolder (grey erosion or dilation) and blurred (a marker, a soft camera).
Seeded: the same images and seed give the same copies.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

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


HAND_SCALE = 2
"""Other-hand copies are drawn at this multiple of MNIST's resolution (pens in half pixels)."""
HAND_PAD = 6
"""Blank margin (MNIST pixels) around the digit, so that distortion and pen stay on the canvas."""
HAND_SMOOTHNESS = (3.0, 5.0)
"""Range of the distortion field's Gaussian smoothing, in MNIST pixels (Simard et al.: 4)."""
HAND_DISPLACEMENT = 1.2
"""Largest root-mean-square displacement of the distortion, in MNIST pixels."""
HAND_PEN = (-2, 2)
"""Range of the pen change, in 1/HAND_SCALE MNIST pixels: erosion (< 0) or dilation (> 0)."""
HAND_BLUR = 1.5
"""Largest Gaussian blur, in 1/HAND_SCALE MNIST pixels."""


def _disc(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return yy**2 + xx**2 <= radius**2 + 0.5


def _other_hand(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uint8 MNIST digit as another writer might have drawn it, light ink on black, at
    HAND_SCALE x MNIST's resolution (for `normalise`)."""
    side = 28 * HAND_SCALE
    big = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    ink = np.pad(np.asarray(big, dtype=np.float32) / 255, HAND_PAD * HAND_SCALE)
    sigma = rng.uniform(*HAND_SMOOTHNESS) * HAND_SCALE
    field = ndimage.gaussian_filter(rng.uniform(-1, 1, (2, *ink.shape)), (0, sigma, sigma))
    field *= rng.uniform(0, HAND_DISPLACEMENT) * HAND_SCALE / max(field.std(), 1e-9)
    grid = np.mgrid[: ink.shape[0], : ink.shape[1]].astype(np.float64)
    ink = ndimage.map_coordinates(ink, grid + field, order=1, mode="constant")
    pen = int(rng.integers(HAND_PEN[0], HAND_PEN[1] + 1))
    if pen > 0:
        ink = ndimage.grey_dilation(ink, footprint=_disc(pen))
    elif pen < 0:
        ink = ndimage.grey_erosion(ink, footprint=_disc(-pen))
    ink = ndimage.gaussian_filter(ink, rng.uniform(0, HAND_BLUR))
    return np.clip(ink * 255 + 0.5, 0, 255).astype(np.uint8)


def _normalised(
    greys: list[np.ndarray], labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`normalise_many` of the copies, their labels and index; copies without a digit left out."""
    digits = normalise_many(greys)
    keep = [i for i, d in enumerate(digits) if not isinstance(d, ImageError)]
    if not keep:
        empty = np.empty(0, dtype=np.int64)
        return np.empty((0, 28, 28), dtype=np.uint8), empty, empty.copy()
    kept = np.array(keep, dtype=np.int64)
    return np.stack([digits[i] for i in keep]), np.asarray(labels)[kept].astype(np.int64), kept


def low_resolution_copies(
    images: np.ndarray, labels: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 (n, 28, 28) digits → their low-resolution copies in MNIST form, their labels and
    the index of the digit each copy was made from.

    A copy in which normalisation finds no digit is left out (fewer rows than given).
    """
    rng = np.random.default_rng(seed)
    return _normalised([_scan(d, rng) for d in np.asarray(images, dtype=np.uint8)], labels)


def other_hand_copies(
    images: np.ndarray, labels: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 (n, 28, 28) digits → copies in another hand and pen (elastic distortion, finer or
    bolder strokes, blur) in MNIST form, their labels and the index each was made from.

    A copy in which normalisation finds no digit is left out (fewer rows than given).
    """
    rng = np.random.default_rng(seed)
    return _normalised([_other_hand(d, rng) for d in np.asarray(images, dtype=np.uint8)], labels)


def jittered_copies(images: np.ndarray, copies: int, seed: int = 0) -> np.ndarray:
    """`copies` slightly moved versions of each uint8 (n, 28, 28) digit, copy-major
    ((copies * n, 28, 28)): turned up to 8 degrees, scaled by 0.9-1.1, shifted up to a pixel.
    They make a few hundred extra digits (corrections) weigh like a few thousand without
    teaching the model their exact pixels."""
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
