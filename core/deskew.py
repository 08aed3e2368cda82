"""Deskewing by image moments, as in the seed: shear each digit so its main axis is vertical.

The shear of an image is the covariance of its ink's row and column coordinates divided by
the row variance; the image is resampled bilinearly about its centre of mass, which also
moves that centre to the middle. `deskew_batch` does the whole stack with array operations:
the moments are one matrix product, and because the shear is horizontal the bilinear
resampling splits into a gather of whole rows and a gather along each row (every output row
has one fractional column shift). `deskew_reference` is the plain per-image version the
tests compare it to.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

ORDER = 1
"""Bilinear resampling."""
MODE = "grid-constant"
"""Zero outside the image, interpolated up to the edge (what zero padding gives)."""
BLOCK = 512
"""Images per block: keeps the temporaries (about 30 kB per image) in cache; 3x faster than 8k."""
_MIN_VARIANCE = 1e-9
"""Below this row variance (no ink, or ink on one row) the shear is undefined: leave it at 0."""


def _moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass (n, 2) and shear (n,) of a stack (n, h, w), in float64, with one GEMM."""
    n, h, w = images.shape
    rows, cols = np.mgrid[:h, :w].astype(np.float64).reshape(2, -1)
    basis = np.stack([np.ones_like(rows), rows, cols, rows * rows, rows * cols], axis=1)
    raw = images.reshape(n, -1).astype(np.float64) @ basis  # (n, 5): m, Σr, Σc, Σr², Σrc
    mass = raw[:, 0]
    blank = mass <= 0
    safe = np.where(blank, 1.0, mass)
    r0, c0 = raw[:, 1] / safe, raw[:, 2] / safe
    var_r = raw[:, 3] / safe - r0 * r0
    cov_rc = raw[:, 4] / safe - r0 * c0
    sheared = ~blank & (var_r > _MIN_VARIANCE)
    alpha = np.where(sheared, cov_rc / np.where(sheared, var_r, 1.0), 0.0)
    # A blank image keeps its (zero) content: centre it on itself so nothing moves.
    r0 = np.where(blank, h / 2.0, r0)
    c0 = np.where(blank, w / 2.0, c0)
    return np.stack([r0, c0], axis=1), alpha


def deskew_reference(image: np.ndarray) -> np.ndarray:
    """One image, the seed's way: `affine_transform` with the moment shear about the centre."""
    centre, alpha = _moments(image[None])
    affine = np.array([[1.0, 0.0], [alpha[0], 1.0]])
    offset = centre[0] - affine @ (np.array(image.shape, dtype=np.float64) / 2.0)
    return ndimage.affine_transform(image, affine, offset=offset, order=ORDER, mode=MODE)


def _deskew_block(images: np.ndarray) -> np.ndarray:
    """Output (r, c) samples input (r + r0 - h/2, c + alpha (r - h/2) + c0 - w/2) bilinearly."""
    n, h, w = images.shape
    centre, alpha = _moments(images)
    r = np.arange(h, dtype=np.float64)
    padded = np.zeros((n, h + 2, w + 2), dtype=np.float32)  # a zero border: clipped taps read 0
    padded[:, 1:-1, 1:-1] = images

    src_r = r[None, :] + (centre[:, :1] - h / 2.0)  # (n, h)
    top = np.floor(src_r)
    fr = (src_r - top).astype(np.float32)[:, :, None]
    top = top.astype(np.intp) + 1  # index in the padded stack
    which = np.arange(n)[:, None]
    upper = padded[which, np.clip(top, 0, h + 1)]
    lower = padded[which, np.clip(top + 1, 0, h + 1)]
    rows = upper + fr * (lower - upper)  # (n, h, w + 2), still zero-bordered left and right

    shift = alpha[:, None] * (r[None, :] - h / 2.0) + (centre[:, 1:] - w / 2.0)  # (n, h)
    left = np.floor(shift)
    fc = (shift - left).astype(np.float32)[:, :, None]
    cols = np.arange(w + 1)[None, None, :] + left.astype(np.intp)[:, :, None] + 1
    flat = np.clip(cols, 0, w + 1) + (np.arange(n * h).reshape(n, h, 1) * (w + 2))
    taps = np.take(rows.reshape(-1), flat)  # (n, h, w + 1): columns left .. left + w
    return taps[:, :, :-1] + fc * (taps[:, :, 1:] - taps[:, :, :-1])


def deskew_batch(images: np.ndarray) -> np.ndarray:
    """A float32 stack (n, 28, 28) in [0, 1], deskewed; same shape and dtype, no NaN."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"expected a stack (n, h, w), got shape {images.shape}")
    out = np.empty_like(images)
    for start in range(0, len(images), BLOCK):
        out[start:start + BLOCK] = _deskew_block(images[start:start + BLOCK])
    return out
