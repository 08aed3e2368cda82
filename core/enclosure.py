"""A ring or a box drawn around the number is no digit.

People circle a total, an answer or a reference on a form, or draw a box around it. The
ring is one mark around all the others: read with them it is a wide 0 or a string of 1s,
and the number is lost. It is found as the mark whose inside holds the rest of the ink,
marks as tall as digits among it (apart from it, or touching it and reaching in), and is
taken out as a printed line is: its band along the outside of what it encloses, as deep
as the ring is thick, so that a digit touching it keeps what reaches in.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from core.cuts import dilated

ENCLOSED = 0.95
"""At least this share of the ink other than the ring lies inside it."""
RING_OPEN = 0.05
"""A ring left open by a pen lifted early, by up to about twice this fraction of its height
(2 px at least), still encloses: it is grown by that much before its inside is filled."""
RING_HOLE = 0.4
"""Digits touching the ring count as inside it when what it encloses (bar the grown ring
and the digits touching it) is this share of it or more: a ring around paper, not the
loops of touching digits (a third of them at most on our sets)."""
DIGITS_INSIDE = 0.3
"""The ink inside spans at least this fraction of the ring's height: digits, not the
specks inside a 0's loop."""


def enclosure(mask: np.ndarray, labelled: tuple[np.ndarray, int] | None = None
              ) -> np.ndarray:
    """The pixels of a ring or box drawn around the rest of the ink of `mask` (bool, a
    page's ink); all False when there is none. `labelled`: `mask`'s 8-connected components
    (`ndimage.label`), when the caller has them already."""
    none = np.zeros_like(mask)
    labels, count = labelled or ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return none
    objects = ndimage.find_objects(labels)
    spans = [(r.stop - r.start) * (c.stop - c.start) for r, c in objects]
    index = int(np.argmax(spans)) + 1
    rows, cols = objects[index - 1]
    box = labels[rows, cols]
    own_ink = np.count_nonzero(box == index)
    elsewhere = np.count_nonzero(mask) - own_ink  # the other marks' ink
    if np.count_nonzero(box) - own_ink < ENCLOSED * elsewhere:
        return none  # the other marks lie beside it (a quick test before the fill below)
    height = rows.stop - rows.start
    gap = max(2, round(RING_OPEN * height))
    crop = np.pad(box, gap + 1)  # room to grow in, and paper all round
    own = crop == index
    grown = dilated(own, steps=gap)
    filled = ndimage.binary_fill_holes(grown)
    # the ring's own band along the outside, as deep as it is thick (its pixels, layer by
    # layer inward, are many until its inner edge)
    depth = ndimage.distance_transform_cdt(filled)
    layers = np.bincount(depth[own])
    peak = int(layers.argmax())
    thin = np.flatnonzero(layers[peak:] < layers[peak] / 2)
    deep = peak + (int(thin[0]) if thin.size else layers.size)
    ring = own & (depth <= deep)
    # the rest of its mark: where it reaches no deeper than twice that, the ring running
    # thicker (along a form's rule); else digits touching it, held by it if it is a ring
    # around paper (touching digits' loops are small)
    others = (crop > 0) & ~own
    held = others & filled
    rest, pieces = ndimage.label(own & ~ring, structure=np.ones((3, 3), dtype=bool))
    if pieces:
        reach = ndimage.maximum(depth, rest, index=np.arange(1, pieces + 1))
        shallow = np.concatenate(([False], np.asarray(reach) <= 2 * deep - gap))
        ring |= shallow[rest]
        if np.count_nonzero(filled & ~grown) >= RING_HOLE * np.count_nonzero(filled):
            held |= (rest > 0) & ~shallow[rest]
    spanned = np.flatnonzero(held.any(axis=1))
    if (spanned.size == 0 or np.count_nonzero(others & filled) < ENCLOSED * elsewhere
            or spanned[-1] - spanned[0] + 1 < DIGITS_INSIDE * height):
        return none
    out = none
    out[rows, cols] = ring[gap + 1:-gap - 1, gap + 1:-gap - 1]
    return out
