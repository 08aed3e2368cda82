"""One number is one row of digits.

A page whose digits stand in several rows, one above the other (a form's two fields, a
date over an amount, an address), holds no single number: read left to right its marks
interleave the rows into a wrong number with a high confidence (39065 written over 92344
was read "9329304645" at 0.95). Such a page gets an error that says so instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse.csgraph import connected_components

from core.cuts import Group

SEVERAL_ROWS = "several rows of digits found: crop the image to one number"
"""`ImageError`'s message for a page of several rows of digits."""
ROW_OVERLAP = 0.25
"""Two digits are in one row when their heights overlap by this fraction of the shorter:
neighbours in a drifting or turned row overlap much more, rows one above the other not at
all."""
STACKED = 0.5
"""Two rows lie one above the other when their widths overlap by this fraction of the
narrower row's: a row continued higher or lower further along (a baseline that steps) has
its parts side by side."""


def rows_of(groups: Sequence[Group]) -> list[list[int]]:
    """The indices of `groups` by row: the sets of groups chained by vertical overlap
    (`ROW_OVERLAP`), each left to right as given."""
    tops = np.array([g.rows.start for g in groups])
    bottoms = np.array([g.rows.stop for g in groups])
    heights = bottoms - tops
    overlap = (np.minimum.outer(bottoms, bottoms) - np.maximum.outer(tops, tops))
    linked = overlap >= ROW_OVERLAP * np.minimum.outer(heights, heights)
    count, row = connected_components(linked, directed=False)
    return [np.flatnonzero(row == r).tolist() for r in range(count)]


def several_rows(groups: Sequence[Group]) -> bool:
    """Whether the digit groups stand in two or more rows one above the other (`STACKED`)."""
    rows = rows_of(groups)
    if len(rows) < 2:
        return False
    spans = [(min(groups[i].cols.start for i in row), max(groups[i].cols.stop for i in row))
             for row in rows]
    for a, (a0, a1) in enumerate(spans):
        for b0, b1 in spans[a + 1:]:
            if min(a1, b1) - max(a0, b0) >= STACKED * min(a1 - a0, b1 - b0):
                return True
    return False
