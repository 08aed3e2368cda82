"""Histograms of oriented gradients (Dalal and Triggs 2005) for a whole stack of small images.

Per pixel: the centred-difference gradient (zero on the image border, as scikit-image's
`hog`), its magnitude and its orientation bin (hard assignment, as scikit-image). Per cell:
the mean magnitude per bin, pooled for the whole stack by one `np.bincount` over
(image, cell row, cell column, bin) indices. With `spatial=True` each vote is shared instead
between the 2x2 nearest cell centres, bilinearly (Dalal and Triggs' spatial interpolation): the
votes are written densely and pooled by two matrix products with the cells' tent weights. Per
block of 2x2 cells, sliding by one cell: L2-Hys normalisation (L2, clip at 0.2, L2 again). No
Python loop runs per image.

With `signed=False` and one cell size the output equals `skimage.feature.hog(image,
orientations, (cell, cell), (block, block), "L2-Hys", feature_vector=True)` (the tests check),
except that a gradient lying exactly on a bin boundary (say 45 degrees with 12 bins) may
fall in the neighbouring bin: bins are found in float32 here, float64 there.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLOCK = 512
"""Images per block: the per-pixel temporaries (about 20 bytes per pixel) stay in cache."""
_EPS = 1e-5
"""scikit-image's epsilon in the block norms: a blank block stays 0, not NaN."""
_CLIP = 0.2
"""L2-Hys clips each normalised value here before normalising again."""


@dataclass(frozen=True)
class HogSpec:
    """Orientation bins, cell sizes (pixels) and block size (cells) of the histograms."""

    orientations: int = 18
    cells: tuple[int, ...] = (4, 7)
    block: int = 2
    signed: bool = True
    """Orientations over 360° (a stroke's dark-to-light side matters) or over 180°."""
    soft: bool = False
    """Split each pixel's vote between the two nearest bins by distance (Dalal and Triggs)
    instead of giving it all to its own bin (scikit-image)."""
    spatial: bool = False
    """Split each pixel's vote between the 2x2 nearest cell centres, bilinearly by distance
    (Dalal and Triggs), instead of giving it all to its own cell."""

    def n_features(self, size: int = 28) -> int:
        """Length of the feature row for square images of `size` pixels."""
        total = 0
        for cell in self.cells:
            blocks = size // cell - self.block + 1
            total += blocks * blocks * self.block * self.block * self.orientations
        return total


@dataclass(frozen=True)
class _Votes:
    """Per pixel: the bin(s) its gradient votes for and with what weight (n, h, w) each."""

    bins: np.ndarray
    weights: np.ndarray
    next_bins: np.ndarray | None = None
    """Soft binning: the following bin, which gets `next_weights`."""
    next_weights: np.ndarray | None = None


def _gradient_votes(images: np.ndarray, spec: HogSpec) -> _Votes:
    """Centred-difference gradients → each pixel's orientation bin(s) and magnitude share(s)."""
    g_row = np.zeros_like(images)
    g_col = np.zeros_like(images)
    np.subtract(images[:, 2:, :], images[:, :-2, :], out=g_row[:, 1:-1, :])
    np.subtract(images[:, :, 2:], images[:, :, :-2], out=g_col[:, :, 1:-1])
    magnitude = np.sqrt(g_row * g_row + g_col * g_col)
    n = spec.orientations
    per_radian = np.float32(n / (2 * np.pi if spec.signed else np.pi))
    # arctan2 in [-pi, pi] → [-n/2, n/2] (signed) or [-n, n] (unsigned) bins; shift it positive
    # by 2n so that truncation floors, then wrap modulo n with a lookup table.
    angle = np.arctan2(g_row, g_col)
    angle *= per_radian
    wrap = _wrap_table(n)
    if not spec.soft:
        angle += np.float32(2 * n)
        return _Votes(wrap[angle.astype(np.int32)], magnitude)
    angle += np.float32(2 * n - 0.5)  # bin centres at whole numbers: share with the next one
    lower = angle.astype(np.int32)
    angle -= lower  # the share of the next bin
    upper = np.multiply(magnitude, angle, out=angle)
    magnitude -= upper
    return _Votes(wrap[lower], magnitude, wrap[lower + 1], upper)


@functools.cache
def _wrap_table(orientations: int) -> np.ndarray:
    """index → index mod orientations, for the shifted bin indices 0 .. 3n."""
    return (np.arange(3 * orientations + 1) % orientations).astype(np.int32)


@functools.lru_cache(maxsize=16)
def _cell_offsets(h: int, w: int, cell: int, orientations: int, n: int = BLOCK) -> np.ndarray:
    """Per pixel of n (h, w) images: the index of its cell's bin 0 in the flat histograms."""
    rows, cols = h // cell, w // cell
    cell_row = (np.arange(rows * cell) // cell)[:, None]
    cell_col = (np.arange(cols * cell) // cell)[None, :]
    in_image = (cell_row * cols + cell_col) * orientations  # (h', w')
    image = (np.arange(n) * (rows * cols * orientations))[:, None, None]
    offsets = np.zeros((n, h, w), dtype=np.intp)
    offsets[:, :rows * cell, :cols * cell] = in_image + image
    offsets.flags.writeable = False
    return offsets


def _cell_histograms(votes: _Votes, cell: int, orientations: int) -> np.ndarray:
    """Mean magnitude per orientation bin of each cell: (n, rows, cols, orientations).

    One `np.bincount` over (image, cell, bin) indices weighted by the magnitudes (two for
    soft bins). Pixels beyond the last whole cell (none for 28 px and cells of 4 or 7) are
    weighed 0.
    """
    n, h, w = votes.bins.shape
    rows, cols = h // cell, w // cell
    offsets = _cell_offsets(h, w, cell, orientations, max(n, BLOCK))[:n]
    size = n * rows * cols * orientations
    pairs = [(votes.bins, votes.weights)]
    if votes.next_bins is not None:
        pairs.append((votes.next_bins, votes.next_weights))
    sums = np.zeros(size)
    for bins, weights in pairs:
        if rows * cell != h or cols * cell != w:
            cropped = np.zeros_like(weights)
            cropped[:, :rows * cell, :cols * cell] = weights[:, :rows * cell, :cols * cell]
            weights = cropped
        sums += np.bincount((offsets + bins).ravel(), weights=weights.ravel(), minlength=size)
    sums *= 1.0 / (cell * cell)
    return sums.astype(np.float32).reshape(n, rows, cols, orientations)


@functools.lru_cache(maxsize=16)
def _cell_taps(size: int, cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel coordinate: its two nearest cell centres (2, size) and linear weights (2, size).

    Cell i's centre is at (i + 0.5) cell - 0.5; a tap beyond the first or last cell weighs 0
    (its index is clamped so that it stays a valid one).
    """
    cells = size // cell
    u = (np.arange(size) + 0.5) / cell - 0.5
    lower = np.floor(u).astype(np.intp)
    frac = u - lower
    index = np.stack([lower, lower + 1])
    weight = np.stack([1.0 - frac, frac])
    weight[(index < 0) | (index >= cells)] = 0.0
    return np.clip(index, 0, cells - 1), weight.astype(np.float32)


@functools.lru_cache(maxsize=16)
def _tent_weights(size: int, cells: tuple[int, ...]) -> np.ndarray:
    """(size, total cells) float32: each pixel coordinate's linear weight in each cell of each
    cell size, over the cell size (so that the two stages together give the cell's mean)."""
    parts = []
    for cell in cells:
        index, weight = _cell_taps(size, cell)
        dense = np.zeros((size, size // cell), dtype=np.float32)
        for tap in range(2):
            np.add.at(dense, (np.arange(size), index[tap]), weight[tap])
        parts.append(dense / np.float32(cell))
    return np.concatenate(parts, axis=1)


@functools.lru_cache(maxsize=4)
def _pixel_index(n: int, h: int, w: int, orientations: int) -> np.ndarray:
    """Per pixel of n (h, w) images: its index for bin 0 in flat (n, h, orientations, w) votes."""
    index = (np.arange(n)[:, None, None] * (h * orientations * w)
             + np.arange(h)[None, :, None] * (orientations * w) + np.arange(w))
    index.flags.writeable = False
    return index


def _spatial_histograms(
    votes: _Votes, cells: tuple[int, ...], orientations: int
) -> list[np.ndarray]:
    """Per cell size, the cell histograms (n, rows, cols, orientations) with each vote shared
    bilinearly between the 2x2 nearest cell centres (Dalal and Triggs' spatial interpolation).

    The votes are written densely as (image, row, bin, column) (a pixel's one or two bins do
    not collide, so plain assignment), then pooled separably by two matrix products with the
    tent weights of every cell size at once: one GEMM over the columns, one small product per
    image over the rows (the cross terms between cell sizes are computed and dropped).
    """
    n, h, w = votes.bins.shape
    dense = np.zeros(n * h * orientations * w, dtype=np.float32)
    base = _pixel_index(max(n, BLOCK), h, w, orientations)[:n]
    dense[base + votes.bins * w] = votes.weights
    if votes.next_bins is not None:
        dense[base + votes.next_bins * w] = votes.next_weights
    across = _tent_weights(w, cells)
    down = _tent_weights(h, cells).T.copy()
    k_cols, k_rows = across.shape[1], down.shape[0]
    pooled = dense.reshape(n * h * orientations, w) @ across
    pooled = np.matmul(down, pooled.reshape(n, h, orientations * k_cols))
    pooled = pooled.reshape(n, k_rows, orientations, k_cols)
    out, row, col = [], 0, 0
    for cell in cells:
        rows, cols = h // cell, w // cell
        part = pooled[:, row:row + rows, :, col:col + cols].transpose(0, 1, 3, 2)
        out.append(np.ascontiguousarray(part))
        row, col = row + rows, col + cols
    return out


def _blocks_l2hys(cells: np.ndarray, block: int) -> np.ndarray:
    """Blocks of block x block cells sliding by one cell, L2-Hys normalised, flattened (n, -1).

    The first L2 norm of a block follows from its cells' energies (no pass over the block);
    the values are written already scaled, clipped, then normalised again.
    """
    n, rows, cols, orientations = cells.shape
    br, bc = rows - block + 1, cols - block + 1
    energy = np.einsum("nrco,nrco->nrc", cells, cells)
    block_energy = sum(
        energy[:, i:i + br, j:j + bc] for i in range(block) for j in range(block)
    )
    scale = (1.0 / np.sqrt(block_energy + np.float32(_EPS**2)))[..., None]
    stacked = np.empty((n, br, bc, block, block, orientations), dtype=np.float32)
    for i in range(block):
        for j in range(block):
            np.multiply(cells[:, i:i + br, j:j + bc, :], scale, out=stacked[:, :, :, i, j, :])
    flat = stacked.reshape(n, br, bc, -1)
    np.minimum(flat, np.float32(_CLIP), out=flat)
    _normalise(flat)
    return flat.reshape(n, -1)


def _normalise(rows: np.ndarray) -> None:
    """Divide each row of the last axis by its L2 norm (with epsilon), in place."""
    squares = np.einsum("...i,...i->...", rows, rows)
    rows *= (1.0 / np.sqrt(squares + np.float32(_EPS**2)))[..., None]


def _hog_block(images: np.ndarray, spec: HogSpec) -> np.ndarray:
    votes = _gradient_votes(images, spec)
    if spec.spatial:
        cells = _spatial_histograms(votes, spec.cells, spec.orientations)
    else:
        cells = [_cell_histograms(votes, cell, spec.orientations) for cell in spec.cells]
    parts = [_blocks_l2hys(histograms, spec.block) for histograms in cells]
    return np.concatenate(parts, axis=1)


def hog_batch(images: np.ndarray, spec: HogSpec = HogSpec()) -> np.ndarray:
    """float32 (n, h, w) images → float32 (n, spec.n_features(h)) HOG rows."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"expected a stack (n, h, w), got shape {images.shape}")
    out = np.empty((len(images), spec.n_features(images.shape[1])), dtype=np.float32)
    for start in range(0, len(images), BLOCK):
        out[start:start + BLOCK] = _hog_block(images[start:start + BLOCK], spec)
    return out


def cell_sizes(values: Sequence[int]) -> tuple[int, ...]:
    """A recipe's cell sizes as a tuple (JSON gives lists)."""
    return tuple(int(v) for v in values)
