"""A line drawn under a number is no digit.

People underline what they write down: an amount, a total, a reference. The line touches
the digits' feet, so digits and line become one wide mark and a 7 standing on it reads 2.
The capture front-end's line finder leaves it (a line found alone is printed only when it
crosses nearly the whole page: a 7's bar across half a small page is such a line too), but
no digit has a stroke along its foot much longer than the digits are tall, and a line under
a number runs under several: the lowest ink of the page, unbroken and nearly straight over
`UNDERLINE_LENGTH` times the ink's height.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

UNDERLINE_LENGTH = 1.8
"""A line under the ink runs at least this many times as long as the ink (digits and line
together) is tall."""
UNDERLINE_STEP = 2
"""Along a line, the ink's lowest pixel moves at most this many rows from one column to
the next (a line drawn by hand, or turned, wanders slowly; the foot of a digit does not
stay that low for long)."""
UNDERLINE_WANDER = 0.08
"""...and stays within this fraction of the ink's height of a straight line through it."""
UNDERLINE_THICKNESS = 0.15
"""A line is at most this fraction of the ink's height thick (a pen's line, not a bar)."""
FRAME = 3
"""A line within this many pixels of the frame's lower edge, or running from its left edge
to its right, is the page's edge in shade or a rule, not a line drawn under a number."""


def underline(mask: np.ndarray) -> np.ndarray:
    """The pixels of a line drawn under the ink of `mask` (bool, a page's ink), its own
    thickness up from its lowest pixel in every column, so that the feet of the digits
    standing on it stay theirs; all False when the ink has no such line."""
    none = np.zeros_like(mask)
    inked = mask.any(axis=0)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return none
    height = int(rows[-1] - rows[0] + 1)
    length = UNDERLINE_LENGTH * height
    if np.count_nonzero(inked) < length:
        return none
    bottom = np.where(inked, mask.shape[0] - 1 - mask[::-1].argmax(axis=0), -1)
    steady = inked[1:] & inked[:-1] & (np.abs(np.diff(bottom)) <= UNDERLINE_STEP)
    runs, _ = ndimage.label(np.concatenate(([False], steady)) | np.concatenate((steady, [False])))
    spans = [s[0] for s in ndimage.find_objects(runs) if s[0].stop - s[0].start >= length]
    if not spans:
        return none
    cols = _straight(bottom, max(spans, key=lambda s: s.stop - s.start),
                     max(2.0, UNDERLINE_WANDER * height))
    h, w = mask.shape
    if (cols.size < length or bottom[cols].max() >= h - FRAME
            or (cols[0] < FRAME and cols[-1] >= w - FRAME)):
        return none
    # its thickness: in each column, the ink's run up from its lowest pixel
    reach = max(2, int(UNDERLINE_THICKNESS * height) + 1)
    up = np.clip(bottom[cols][None, :] - np.arange(reach)[:, None], 0, h - 1)
    inked_up = mask[up, cols[None, :]]
    run = np.where(inked_up.all(axis=0), reach, inked_up.argmin(axis=0))
    thickness = int(np.median(run))
    if thickness >= reach:
        return none  # a bar, or digits' feet all the way along: no pen's line
    line = np.zeros_like(mask)
    within = np.arange(reach)[:, None] < np.minimum(run, thickness + 1)[None, :]
    line[up[within], np.broadcast_to(cols, up.shape)[within]] = True
    return line & mask


def _straight(bottom: np.ndarray, span: slice, wander: float) -> np.ndarray:
    """The longest run of the columns `span` whose lowest ink lies within `wander` rows of
    one straight line (fitted again without the columns off it, three times: a digit's
    stroke rising slowly off the line's end, a slanted 1's foot, is no part of it)."""
    cols = np.arange(span.start, span.stop)
    on = np.ones(cols.size, dtype=bool)
    for _ in range(3):
        fit = np.polyval(np.polyfit(cols[on], bottom[cols[on]], 1), cols)
        on = np.abs(bottom[cols] - fit) <= wander
        if on.sum() < 2:
            return cols[:0]
    runs, _ = ndimage.label(on)
    longest = max(ndimage.find_objects(runs), key=lambda s: s[0].stop - s[0].start)[0]
    return cols[longest]
