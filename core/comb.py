"""Printed boxes around digits: a form's comb field (a row of boxes, one digit each) and
the walls of boxes that the line finder left.

A comb field is found from the printed lines and the inked columns between them; each of
its boxes is then read as one digit (`core.numbers`). Elsewhere, what is left of a box's
walls is thin vertical runs that meet a printed line at both ends, removed before the
digits are grouped.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage

from core.capture import longest_run

WALL_FRACTION = 0.5
"""A box's wall is a vertical run at least this fraction of the printed lines' span..."""
WALL_WIDTH = 0.2
"""...and at most this fraction as wide as tall."""
COMB_LINE = 0.25
"""A comb field's top and bottom lines are printed rows at least this fraction of the page
wide..."""
COMB_PRINTED = 0.5
"""...which the line finder takes for printed lines over at least this fraction of their
length (touching digits' strokes can make a long run too)..."""
COMB_WALL = 0.85
"""...and its walls are columns inked over this fraction of the rows between them..."""
COMB_REGULARITY = 0.25
"""...spaced evenly (each within this fraction of the spacing of where it would be), at
least 3 of them."""
MAX_COLUMNS = 128
"""More inked columns than this: a page of vertical strokes, no comb (bounded work)."""


def comb_cells(mask: np.ndarray, lines: np.ndarray) -> list[tuple[slice, slice]] | None:
    """The boxes of a comb field (a form's row of printed boxes, one digit each), left to
    right, inside their walls: between two rows holding a straight run `COMB_LINE` of the
    page wide, mostly among the printed `lines`, the columns inked over `COMB_WALL` of the
    rows between them, evenly spaced, the two rows ending with the first and last of them;
    None if the page has none."""
    w = mask.shape[1]
    length = max(8, int(COMB_LINE * w))
    if longest_run(mask.any(axis=0)) < length:
        return None  # no row holds a straight run that long: inked columns that far apart
    band = ndimage.maximum_filter1d(mask.view(np.uint8), 3, axis=0)  # a slight tilt
    eroded = ndimage.minimum_filter1d(band, length, axis=1, mode="constant", cval=0)
    rows = np.flatnonzero(eroded.any(axis=1))
    if rows.size < 2:
        return None
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    best: list[tuple[slice, slice]] | None = None
    for upper, lower in itertools.pairwise(runs):
        top, bottom = int(upper[-1]) + 1, int(lower[0])
        if bottom - top < 8:
            continue
        band = mask[top:bottom]
        band = band | np.roll(band, 1, axis=1) | np.roll(band, -1, axis=1)  # a slight tilt
        coverage = band.mean(axis=0)
        walls = np.flatnonzero(coverage >= COMB_WALL)
        if walls.size < 3:
            continue
        reach = [np.flatnonzero(eroded[r].any(axis=0)) for r in (upper, lower)]
        printed = [lines[max(r[0] - 1, 0):r[-1] + 2, x[0]:x[-1] + 1].any(axis=0).mean()
                   for r, x in zip((upper, lower), reach, strict=True)]
        if min(printed) < COMB_PRINTED:
            continue  # long runs of touching digits' strokes, not printed lines
        ends = (min(int(x[0]) for x in reach) - length // 2,
                max(int(x[-1]) for x in reach) + length // 2)
        groups = _evenly_spaced(np.split(walls, np.flatnonzero(np.diff(walls) > 1) + 1),
                                coverage, bottom - top, ends)
        if len(groups) < 3:
            continue
        cells = [(slice(top, bottom), slice(int(a[-1]) + 2, int(b[0]) - 1))
                 for a, b in itertools.pairwise(groups)]
        if best is None or len(cells) > len(best):
            best = cells
    return best


def _evenly_spaced(columns: list[np.ndarray], coverage: np.ndarray, height: int,
                   ends: tuple[int, int]) -> list[np.ndarray]:
    """The longest run of inked columns (each an array of adjacent x) evenly spaced, each
    gap within `COMB_REGULARITY` of the spacing and 0.4-2.5 `height`, the first and last
    within half a spacing of the `ends` of the printed rows above and below (a comb's
    lines end with its boxes; ruled paper's go on): a comb's walls, not the tall strokes
    of the digits in its boxes (a 1 stands mid-box). Of runs as long, the one whose
    columns are inked over most of the rows (`coverage`, per x): printed walls are whole,
    while tall 1s written mid-box can make a lattice of half the spacing."""
    if len(columns) > MAX_COLUMNS:
        return []
    centres = np.array([c.mean() for c in columns])
    inked = np.array([coverage[c].max() for c in columns])
    best: list[int] = []
    for i, j in itertools.combinations(range(len(columns)), 2):
        spacing = centres[j] - centres[i]
        if not 0.4 * height <= spacing <= 2.5 * height:
            continue
        steps = (centres - centres[i]) / spacing
        nearest = np.round(steps)
        on = np.abs(steps - nearest) <= COMB_REGULARITY / 2
        at = {int(k): n for n, k in enumerate(nearest) if on[n]}
        if 1 not in at or at[1] != j:
            continue
        low, high = 0, 1
        while low - 1 in at:
            low -= 1
        while high + 1 in at:
            high += 1
        run = [at[k] for k in range(low, high + 1)]
        first, last = columns[run[0]], columns[run[-1]]
        if ends[0] < first[0] - spacing / 2 or ends[1] > last[-1] + spacing / 2:
            continue
        if (len(run), inked[run].sum()) > (len(best), inked[best].sum()):
            best = run
    return [columns[n] for n in best]


def box_walls(mask: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The walls of printed boxes (a box around a number, a comb field not found as one)
    that the line finder left: thin vertical runs whose two ends touch a printed line, as a
    printed wall joins its box's lines (a digit's stroke seldom touches two: a 1 written
    between ruled lines a few pixels clear of both is no wall)."""
    if not lines.any():
        return np.zeros_like(mask)
    rows = np.flatnonzero(lines.any(axis=1))
    length = max(8, int(WALL_FRACTION * (rows.max() - rows.min())))
    values = mask.view(np.uint8)
    eroded = ndimage.minimum_filter1d(values, length, axis=0, mode="constant", cval=0)
    runs = ndimage.maximum_filter1d(eroded, length, axis=0, mode="constant", cval=0).astype(bool)
    if not runs.any():
        return runs
    near_lines = ndimage.binary_dilation(lines, iterations=1)
    labels, count = ndimage.label(runs)
    walls = np.zeros(count + 1, dtype=bool)
    for i, (rs, cs) in enumerate(ndimage.find_objects(labels), start=1):
        height, width = rs.stop - rs.start, cs.stop - cs.start
        top = near_lines[max(rs.start - 1, 0), cs].any() or near_lines[rs.start, cs].any()
        bottom = near_lines[min(rs.stop, mask.shape[0] - 1), cs].any() or \
            near_lines[rs.stop - 1, cs].any()
        walls[i] = top and bottom and width <= WALL_WIDTH * height
    found = walls[labels]
    return ndimage.binary_dilation(found, structure=np.ones((1, 3), dtype=bool)) & mask
