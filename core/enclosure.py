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
RING_DIGITS = 0.4
"""...or when they are this share of its mark or more, as digits inside a box touched by
every one of them are (it encloses a fifth of it in paper)..."""
RING_CONTACT = 0.06
"""...and meet its band along at most this share of their pixels: digits touching one
another without a ring have a band too, their strokes' outer layer, but it wraps their
cores (a third of the mark, a tenth of their pixels or more along the band)."""
LINES_INSIDE = 0.25
"""Printed lines inside a mark, deeper than twice its band, this share of its band or more:
a grid's lines (a ring drawn by hand holds only digits)."""
DIGITS_INSIDE = 0.3
"""The ink inside spans at least this fraction of the ring's height: digits, not the
specks inside a 0's loop."""


def enclosure(mask: np.ndarray, labelled: tuple[np.ndarray, int] | None = None,
              printed: np.ndarray | None = None) -> np.ndarray:
    """The pixels of a ring or box drawn around the rest of the ink of `mask` (bool, a
    page's ink); all False when there is none. `labelled`: `mask`'s 8-connected components
    (`ndimage.label`), when the caller has them already. `printed`: the printed lines, when
    `mask` holds them: a mark with printed lines inside it (`LINES_INSIDE`) is squared
    paper or a form's frame, not drawn around the number."""
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
    if printed is not None:
        inside = np.pad(printed[rows, cols], gap + 1) & (depth > 2 * deep)
        if np.count_nonzero(inside) > LINES_INSIDE * np.count_nonzero(ring):
            return none
    # the rest of its mark: where it reaches no deeper than twice that, the ring running
    # thicker (along a form's rule); else digits touching it, held by it if it is a ring
    # around paper (touching digits' loops are small) or they are digits barely meeting it
    others = (crop > 0) & ~own
    held = others & filled
    rest, pieces = ndimage.label(own & ~ring, structure=np.ones((3, 3), dtype=bool))
    if pieces:
        reach = ndimage.maximum(depth, rest, index=np.arange(1, pieces + 1))
        shallow = np.concatenate(([False], np.asarray(reach) <= 2 * deep - gap))
        ring |= shallow[rest]
        touching = (rest > 0) & ~shallow[rest]
        if (np.count_nonzero(filled & ~grown) >= RING_HOLE * np.count_nonzero(filled)
                or _digits_inside(touching, ring, own)):
            held |= touching
    spanned = np.flatnonzero(held.any(axis=1))
    if (spanned.size == 0 or np.count_nonzero(others & filled) < ENCLOSED * elsewhere
            or spanned[-1] - spanned[0] + 1 < DIGITS_INSIDE * height):
        return none
    out = none
    out[rows, cols] = ring[gap + 1:-gap - 1, gap + 1:-gap - 1]
    return out


def _digits_inside(pieces: np.ndarray, ring: np.ndarray, own: np.ndarray) -> bool:
    """Whether the `pieces` of a ring's mark deeper than its band (`ring`) are digits
    touching it from inside (`RING_DIGITS`, `RING_CONTACT`)."""
    count = np.count_nonzero(pieces)
    return (count >= RING_DIGITS * np.count_nonzero(own)
            and np.count_nonzero(pieces & dilated(ring)) <= RING_CONTACT * count)
