"""A line drawn under a number is no digit.

People underline what they write down: an amount, a total, a reference. The line touches
the digits' feet, so digits and line become one wide mark and a 7 standing on it reads 2.
The capture front-end's line finder leaves it (a line found alone is printed only when it
crosses nearly the whole page: a 7's bar across half a small page is such a line too), but
no digit has a stroke along its foot much longer than the digits are tall, and a line under
a number runs under several: the lowest ink of the page (but where a digit's stroke crosses
it), nearly straight, over `UNDERLINE_LENGTH` times the height of the digits above it. A
form's dashes, one under each place to write on, are such a line with even gaps in it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

UNDERLINE_LENGTH = 1.8
"""A line under the digits runs at least this many times as long as the ink above it is
tall."""
UNDERLINE_STEP = 2
"""Along a line, the ink's lowest pixel moves at most this many rows from one column to
the next (a line drawn by hand, or turned, wanders slowly; the foot of a digit does not
stay that low for long)."""
UNDERLINE_WANDER = 0.08
"""...and stays within this fraction of the ink's height of a straight line through it."""
UNDERLINE_THICKNESS = 0.15
"""A line is thinner than this fraction of the ink's height (digits and line; a pen's line,
not a bar), in half of its columns at least."""
UNDERLINE_BELOW = 0.2
"""The ink reaches at most this fraction of its height below the line (a digit's stroke
crossing it): a line higher up, a shade's edge along the top of the page, is no underline."""
UNDERLINE_CROSSING = 0.75
"""A digit's stroke may cross the line and reach below it, hiding it from the lowest ink
for at most this fraction of the ink's height (a stroke's width, a 2's foot set lower)."""
UNDERLINE_SEEDS = 3
"""The line is looked for through this many of the longest stretches of steady lowest ink
(digits crossing a line break it into pieces, not all longer than a digit's foot)."""
UNDERSCORE_GAP, UNDERSCORE_MIN, UNDERSCORE_EVEN = 1.0, 0.5, 1.3
"""A form's dashes under its places are one line to write on: bridged across gaps with no ink
on the line's row of at most `UNDERSCORE_GAP` of the ink's height, each dash at least
`UNDERSCORE_MIN` of it long, as long as the others within `UNDERSCORE_EVEN` (`_even_dashes`)."""
FRAME = 3
"""A line within this many pixels of the frame's lower edge, or running from its left edge
to its right, is the page's edge in shade or a rule, not a line drawn under a number."""


def underline(mask: np.ndarray) -> np.ndarray:
    """The pixels of a line drawn under the ink of `mask` (bool, a page's ink), its own
    thickness up from its lowest pixel in every column, so that the feet of the digits
    standing on it stay theirs; all False when the ink has no such line."""
    none = np.zeros_like(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return none
    height = int(rows[-1] - rows[0] + 1)
    h, w = mask.shape
    inked = mask.any(axis=0)
    bottom = np.where(inked, h - 1 - mask[::-1].argmax(axis=0), -1)
    wander = max(2.0, UNDERLINE_WANDER * height)
    reach = max(2, int(UNDERLINE_THICKNESS * height) + 1)
    for seed in _steady_stretches(bottom, inked)[:UNDERLINE_SEEDS]:
        # a seed as long as a dash may be one of a form's dashes: the line may have gaps
        blank = UNDERSCORE_GAP * height if seed.size >= UNDERSCORE_MIN * height else 0.0
        cols, clear = _along(mask, bottom, seed, wander, UNDERLINE_CROSSING * height, blank)
        if blank and not _even_dashes(cols, clear, height):  # no dashes: one line, unbroken
            cols, _ = _along(mask, bottom, seed, wander, UNDERLINE_CROSSING * height)
        if (cols.size < 2 or bottom[cols].max() < rows[-1] - UNDERLINE_BELOW * height
                or bottom[cols].max() >= h - FRAME or (cols[0] < FRAME and cols[-1] >= w - FRAME)):
            continue  # not under the ink, or the frame's edge
        # its thickness: in each column, the ink's run up from its lowest pixel
        up = np.clip(bottom[cols][None, :] - np.arange(reach)[:, None], 0, h - 1)
        inked_up = mask[up, cols[None, :]]
        run = np.where(inked_up.all(axis=0), reach, inked_up.argmin(axis=0))
        thickness = int(np.median(run))
        # thinner than a bar (or than digits' feet all the way along), and long beside the
        # ink above its lowest end (a digit's stroke is not)
        if (thickness < reach
                and cols.size >= UNDERLINE_LENGTH * (bottom[cols].max() - thickness - rows[0] + 1)):
            line = np.zeros_like(mask)
            within = np.arange(reach)[:, None] < np.minimum(run, thickness + 1)[None, :]
            line[up[within], np.broadcast_to(cols, up.shape)[within]] = True
            return line & mask
    return none


def _steady_stretches(bottom: np.ndarray, inked: np.ndarray) -> list[np.ndarray]:
    """The stretches of columns along which the lowest ink moves at most `UNDERLINE_STEP`
    rows from each column to the next, longest first."""
    steady = inked[1:] & inked[:-1] & (np.abs(np.diff(bottom)) <= UNDERLINE_STEP)
    pairs = _runs(steady)  # pair i joins columns i and i + 1
    stretches = [np.arange(s.start, s.stop + 1) for (s,) in ndimage.find_objects(pairs)]
    return sorted(stretches, key=len, reverse=True)


def _even_dashes(cols: np.ndarray, clear: np.ndarray, height: int) -> bool:
    """Whether a line's columns `cols` are one line, or dashes a form prints to write on,
    one under each digit's place: parted by columns `clear` of ink where the line runs,
    each at least `UNDERSCORE_MIN` of the ink's `height` long and as long as the others
    within `UNDERSCORE_EVEN`. Otherwise the line is looked for unbroken (a line drawn under
    a number that ends before its last digit would take that digit's foot, on its row past
    a gap, for more of it)."""
    parts = np.flatnonzero(np.diff(cols) > 1)
    blank = [p for p in parts if clear[cols[p] + 1:cols[p + 1]].all()]
    if not blank:
        return True
    dashes = np.split(cols, np.asarray(blank) + 1)
    lengths = np.array([d[-1] - d[0] + 1 for d in dashes])
    return bool(lengths.min() >= UNDERSCORE_MIN * height
                and lengths.max() <= UNDERSCORE_EVEN * lengths.min())


def _along(mask: np.ndarray, bottom: np.ndarray, seed: np.ndarray, wander: float,
           crossing: float, blank: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The columns of the line through the lowest ink of `seed`: of the runs of columns
    whose lowest ink lies within `wander` rows of one straight line (fitted again on the
    columns on it, up to three times: a digit's stroke rising slowly off the line's end, a
    slanted 1's foot, is no part of it), bridging gaps of at most `crossing` columns where
    ink covers the line and reaches below it (a digit's stroke crossing it), the one with
    the most columns on the line, and gaps of at most `blank` columns with no ink where the
    line runs (between the dashes a form prints under its places); only those columns, whose
    lowest ink is the line's, and which columns were such gaps."""
    h, w = mask.shape
    xs = np.arange(w)
    offsets = np.arange(-int(wander), int(wander) + 1)[:, None]
    cols, bridged = seed, np.zeros(w, dtype=bool)
    for _ in range(3):
        if cols.size < 2:
            break
        row = _straight_line(cols, bottom[cols], xs)
        on = (bottom >= 0) & (np.abs(bottom - row) <= wander)
        band = np.clip(np.round(row).astype(int)[None, :] + offsets, 0, h - 1)
        covered = mask[band, xs].any(axis=0)  # ink where the line would be
        hidden = (bottom > row + wander) & covered
        gaps = _runs(hidden)
        hidden &= np.bincount(gaps)[gaps] <= crossing
        if blank:
            clear = ~on & ~hidden & ~covered
            empty = _runs(clear)
            bridged = clear & (np.bincount(empty)[empty] <= blank)
        runs = _runs(on | hidden | bridged)
        on_line = np.bincount(runs[on], minlength=runs.max() + 1)
        on_line[0] = 0
        fitted, cols = cols, xs[(runs == on_line.argmax()) & on]
        if np.array_equal(cols, fitted):
            break
    return cols, bridged


def _runs(flags: np.ndarray) -> np.ndarray:
    """`ndimage.label` of a 1-D bool array (runs numbered 1, 2, ... left to right, 0 off
    them), for a fraction of its set-up cost."""
    starts = flags & ~np.concatenate(([False], flags[:-1]))
    return np.cumsum(starts) * flags


def _straight_line(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The least-squares straight line through the points (`x`, `y`), at `at`
    (`np.polyfit`'s degree 1, in closed form: a tenth of its cost)."""
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean())) / float(dx @ dx)
    return y.mean() + slope * (at - x.mean())
