"""A digit's ink traced again, against its own darkest: a second candidate for its group.

The page's ink level is set by all its digits. A digit written with a thinner, lighter
stroke than its neighbours loses its faintest parts at that level (a 9's loop left open, a
7's bar, an 8's waist), and reads as another digit, usually with a low confidence. Tracing
every group into fainter ink instead (docs/numbers.md, "Whose misreadings": each digit's
ink against its own darkest) mended some of those and broke as many digits that were
right. So the traced ink is not a replacement but a second candidate piece for the group's
whole span, beside its ink as found: the cut search (`core.numbers.choose`) keeps whichever
of the two reads more confidently as a whole digit. The tracing stays in the group's
neighbourhood, off the other groups' ink and clear of printed lines (a ruled line's
blurred edge is faint ink too).
"""

from __future__ import annotations

import numpy as np

from core.capture import hysteresis
from core.cuts import Group, dilated
from core.imaging import extent

FAINTER_LEVEL = 0.06
"""The group's ink is traced down to this fraction of its darkest (never below the paper's
noise)."""
FAINTER_GROWTH = 0.1
"""The traced ink is a candidate only when it adds at least this fraction of the group's
pixels (otherwise it would read as the group does)."""
FAINTER_REACH = 0.15
"""How far past its box (in its heights) a group's tracing may reach."""
LINE_CLEARANCE = 2
"""Pixels kept clear of printed lines: their blurred edges."""


class FainterInk:
    """The groups of one page, each traced into its own fainter ink on demand."""

    def __init__(self, ink: np.ndarray, printed: np.ndarray, noise: float,
                 groups: list[Group]) -> None:
        self.ink = ink
        self.noise = noise
        self.clear = (~dilated(printed, steps=LINE_CLEARANCE)
                      if printed.any() else np.ones(ink.shape, dtype=bool))
        self.owners = np.zeros(ink.shape, dtype=np.int32)
        for number, group in enumerate(groups, start=1):
            self.owners[group.rows, group.cols][group.mask] = number
        self.groups = groups

    def traced(self, index: int) -> Group | None:
        """Group `index` with the faint ink connected to it (hysteresis from its mask, down
        to `FAINTER_LEVEL` of its darkest), or None when that adds little."""
        group = self.groups[index]
        reach = max(2, round(FAINTER_REACH * (group.rows.stop - group.rows.start)))
        top, left = max(0, group.rows.start - reach), max(0, group.cols.start - reach)
        rows = slice(top, min(self.ink.shape[0], group.rows.stop + reach))
        cols = slice(left, min(self.ink.shape[1], group.cols.stop + reach))
        ink = self.ink[rows, cols]
        sure = np.zeros(ink.shape, dtype=bool)
        sure[group.rows.start - top:group.rows.stop - top,
             group.cols.start - left:group.cols.stop - left] = group.mask
        level = max(self.noise, FAINTER_LEVEL * float(ink[sure].max()))
        owner = self.owners[rows, cols]
        faint = (ink >= level) & self.clear[rows, cols] & ((owner == 0) | (owner == index + 1))
        traced = hysteresis(faint, sure)
        if np.count_nonzero(traced) < (1 + FAINTER_GROWTH) * np.count_nonzero(sure):
            return None
        inked_rows, inked_cols = extent(traced)
        return Group(traced[inked_rows, inked_cols],
                     slice(top + inked_rows.start, top + inked_rows.stop),
                     slice(left + inked_cols.start, left + inked_cols.stop))
