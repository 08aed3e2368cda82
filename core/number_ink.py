"""A number's ink on its page, printed lines out, before its marks are grouped.

The page goes through the capture front-end's first steps (`core.capture`: the paper
divided out, ink in any colour, printed lines removed, unless all of them end within the
number: then they were the digits' own strokes, `_unless_within_number`; in a form's comb
field, its boxes found, `core.comb`). A digit written much lighter than the others, only a
few specks at the page's ink level, or whose strokes fade (a pencil lifted for a 7's bar), is
traced whole into its fainter ink (`_light_digits`). Grouping the ink's marks into digits is
`core.number_marks`'; cutting the groups and reading them, `core.numbers`'.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage, stats

from core import extremes
from core.capture import (
    EDGE,
    LINE_THICKNESS,
    LINE_TRACE,
    MIN_DIGIT_PX,
    NOISE_SIGMAS,
    REMNANT_SHARE,
    TRACE_LEVEL,
    at_frame,
    box_as_thin_as_a_rule,
    grown_extent,
    hysteresis,
    ink_against_paper,
    ink_threshold,
    near_lines,
    noise_level,
    printed_lines,
    reduce_blocks,
    smaller_than_a_digit,
)
from core.comb import box_cells, box_walls, comb_cells, inked_across, tick_cells
from core.cuts import dilated
from core.enclosure import enclosure
from core.imaging import ImageError, component_boxes, component_peaks, extent
from core.number_marks import EDGE_HEIGHT, FRAGMENT_HEIGHT, MINOR_HEIGHT
from core.underline import underline

ANALYSIS_SIDE = 1024
"""Pages are analysed at most this many pixels on their longest side: twice the single
digit's, since a row of digits is long and each digit small in it."""
DIGIT_SIDE = 48
"""Pages with big digits are reduced by a whole factor that leaves them at least this many
pixels tall: over twice MNIST's 20, enough detail to cut and read; the cost of every later
step falls with the square of the factor (a phone photo of a number)."""
SURVEY_SIDE = 128
"""The digits' height is first measured on a copy at most this many pixels long."""
CELL_LEVEL = 0.2
"""In a comb field's box, ink is what reaches this fraction of the box's darkest ink..."""
CELL_INK = 2.0
"""...and a box holds a digit when its darkest ink off the printed lines and its sides
(`CELL_BORDER`) reaches this many times the paper's noise level (MNIST test digits in
boxes: 4 times and more; the grain of an empty box's paper: 1-2 times, under a page
threshold set by its printed lines alone) and half the page's ink threshold."""
MAD_TO_SIGMA = float(1 / stats.norm.ppf(0.75))
"""A normal spread's standard deviation over its median absolute deviation (1.4826)."""
CELL_PAPER, MIN_PAPER = 2, 20
"""A box's paper is what lies more than this many pixels from its digit's surer strokes, when
there are at least `MIN_PAPER` such pixels (`_paper_level`)."""
CELL_BORDER = 0.1
"""A comb field's printed lines reach into its boxes by their blur and tilt: within this
fraction of a box's shorter side of its sides (at least 3 px)..."""
CELL_LINE = 0.5
"""...and a line runs across a box over at least this fraction of it (a row, in another box
too: squared paper's). What else the line finder takes for line inside a box is the digit
(a small field's rows of bold digits average out as dark as a line, and the line finder
keeps their thin, lighter strokes)."""
LIGHT_MARK = 0.5
"""A mark whose darkest ink is under this fraction of the marks' median darkest is a light
digit's darkest stroke: its fainter strokes are traced from it."""
FAINT_LEVEL = 0.25
"""The specks of a digit written much lighter than the rest are traced down to this fraction
of the page's ink level (never into the paper's noise)."""
GROWTH = 0.3
"""A digit written normally is traced so too when the fainter ink it reaches holds at least
this fraction of its own pixels beyond its strokes' edges (the rest of its strokes)."""
BEYOND = 0.25
"""Printed lines reach at least this fraction of the number's height past its ink."""
EDGE_PX = 1
"""How far beside a printed line its blurred edge reaches: light ink there is not traced."""
BRIDGE = 9
"""A light digit's pieces this close across a printed line and its edges are traced as one."""
NUMBER_TILT = 15.0
"""A number's printed lines are looked for up to this many degrees off level (a notebook
photographed turned 12° was read 27% of the time at the front-end's 10°); a single digit's
page keeps 10° (`MAX_TILT`: a 4's slanted stroke on a whiteboard was one at 15°)."""


def analysis_factor(pixels: np.ndarray) -> int:
    """The whole factor the page is reduced by: its digits at least `DIGIT_SIDE` px tall (their
    height measured on a small copy: the tall components that are not lines), and its
    longest side at most `ANALYSIS_SIDE`."""
    longest = max(pixels.shape[:2])
    bound = max(1, -(-longest // ANALYSIS_SIDE))
    if pixels.shape[0] < 2 * DIGIT_SIDE:  # no digit can be tall enough to reduce
        return bound
    survey = max(1, -(-longest // SURVEY_SIDE))
    small = reduce_blocks(pixels, survey) if survey > 1 else pixels
    ink = ink_against_paper(small)
    threshold, _ = ink_threshold(ink)
    labels, count = ndimage.label(ink >= threshold, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return bound
    boxes = component_boxes(labels)
    heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    # not a printed line, a box around the digits or the frame
    marks = heights[(heights >= 4) & (widths <= 2 * heights) & (heights < 0.9 * small.shape[0])]
    if marks.size == 0:
        return bound
    height = float(np.median(marks[marks >= 0.5 * marks.max()])) * survey
    return max(bound, int(height // DIGIT_SIDE))


class MarkedPage(NamedTuple):
    """A page's ink and what `ink_mask` found in it."""

    ink: np.ndarray
    """float32 in [0, 1]"""
    mask: np.ndarray
    """the digits' ink: without printed lines and components that never reach `threshold`"""
    threshold: float
    cells: list[tuple[slice, slice]] | None
    """the boxes of a comb field when the page is one"""
    printed: np.ndarray
    """the printed lines taken out of the mask"""
    noise: float
    """the paper's noise, in ink"""


def ink_mask(page: np.ndarray) -> MarkedPage:
    """The capture front-end's ink and its mask without printed lines and without
    components that never reach the ink threshold; that threshold; the boxes of a comb
    field when the page is one (`comb_cells`; a field of one or two boxes, or one too small
    for the line finder, `box_cells`); the printed lines; the paper's noise."""
    ink = ndimage.uniform_filter(ink_against_paper(page, clip=False), size=3)
    noise = noise_level(ink)  # of the unclipped ink: clipped, the paper's spread is lost
    threshold, floor = ink_threshold(ink, noise)
    ink = np.clip(ink, 0.0, 1.0, out=ink)
    level = max(floor, threshold / 2)
    mask = ink >= level
    lines = _strip_lines(mask, ink, level)
    cells = comb_cells(mask, lines)
    # the ink's marks: for a box's outline and, where no printed line is taken out of
    # them, for the digits' own (below; the same mask labelled once)
    marks = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool)) if cells is None else None
    # a field found from its printed outline: a line with ticks, boxes apart, a box or two,
    # a comb too small for the line finder
    outlined = (tick_cells(mask, marks) or box_cells(mask, marks)) if marks is not None else None
    if outlined is not None:
        cells, outline = outlined
        lines = lines | outline
    # A comb's boxes lie between its walls; elsewhere what is left of a box's walls is
    # found by its ends on printed lines (a tall 1 in a comb's box could look like one).
    printed = lines if cells is not None else _unless_within_number(
        lines | box_walls(mask & ~lines, lines), mask)
    if cells is None:  # a ring or a box drawn around the number, a line under it: printed too
        printed = printed | _drawn_around(mask, printed, marks)
        printed = printed | underline(mask & ~printed)
    if marks is None or (mask & printed).any():
        mask &= ~printed
        marks = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    labels, count = marks
    if count == 0 and cells is None:
        raise ImageError("no digit found")
    strong = np.bincount(labels[ink >= threshold], minlength=count + 1) > 0
    strong[0] = False
    boxes = component_boxes(labels) if cells is None else None  # (for the two steps below)
    if boxes is not None and printed.any() and _only_remnants(labels, boxes, strong, printed):
        raise ImageError("no digit found")
    mask = strong[labels]
    low = max(noise, FAINT_LEVEL * level)
    if boxes is not None and low < level:
        mask = _light_digits(ink, mask, labels, boxes, strong, printed, low)
    if cells:
        _comb_ink(ink, mask, printed, cells, threshold=threshold, floor=floor, noise=noise)
    return MarkedPage(ink, mask, threshold, cells, printed, noise)


def _strip_lines(mask: np.ndarray, ink: np.ndarray, level: float) -> np.ndarray:
    """The printed lines of a number's page (`printed_lines`, traced on the ink averaged
    along each way down to `TRACE_LEVEL` of the mask's `level`). A number is often
    photographed as a strip: printed lines are long against its longer side, not its
    shorter one (a digit's stroke is as tall as the strip). The line finder measures them
    so, as if the strip were on a square page; the blank margin below or beside it is all
    of that page it needs (`_margin`: its filters reach no further)."""
    traced = [ndimage.uniform_filter1d(ink, LINE_TRACE, axis=axis) >= TRACE_LEVEL * level
              for axis in (1, 0)]
    h, w = mask.shape
    side = max(h, w)
    margin = _margin(side)
    below, right = min(max(0, w - h), margin), min(max(0, h - w), margin)
    padded = [_pad_after(m, below, right) for m in (mask, *traced)]
    return printed_lines(*padded, ink=_pad_after(ink, below, right), side=side,
                         strip=(h, w), max_tilt=NUMBER_TILT)[:h, :w]


def _comb_ink(ink: np.ndarray, mask: np.ndarray, printed: np.ndarray,
              cells: list[tuple[slice, slice]], *, threshold: float, floor: float,
              noise: float) -> None:
    """The digits' ink in each box of a comb field (`cells`), written into `mask`: a box
    holds one digit, whose ink is measured against its own darkest, so a faint digit beside
    bold ones keeps its thin strokes; its faintest strokes are traced, but not along the
    `printed` lines' blurred edges. `threshold`, `floor`, `noise`: the page's ink levels."""
    near = dilated(printed, steps=2)
    for (rows, cols), box_lines in zip(cells, _box_lines(printed, cells), strict=True):
        local = ink[rows, cols]
        off_lines = ~near[rows, cols]
        peak = float(local.max(where=off_lines, initial=0.0))
        # (its darkest off the printed lines' blurred edges and its sides: an empty box's
        # is its walls', found or not: a field's last tick, beyond the outline found)
        darkest_inside = float(local.max(where=off_lines & ~_sides(local.shape), initial=0.0))
        if darkest_inside < max(threshold / 2, CELL_INK * noise):  # paper, walls' edges
            mask[rows, cols] = False
            continue
        sure = (local >= max(floor, CELL_LEVEL * peak)) & ~box_lines
        # a light digit's faintest strokes, traced from its surer ones, but not into the
        # box's own paper (its grain and a JPEG's ringing around a bold digit)
        faint = local >= max(noise, FAINT_LEVEL * CELL_LEVEL * peak, _paper_level(local, sure))
        faint &= off_lines
        mask[rows, cols] = hysteresis(faint, sure)


def _paper_level(local: np.ndarray, sure: np.ndarray) -> float:
    """What a comb box's own paper reaches in ink: the median of its pixels more than
    `CELL_PAPER` px from the digit's surer strokes, plus `NOISE_SIGMAS` of their deviations
    (read from their median absolute deviation); 0 when the digit leaves too little paper.
    The page's noise level is measured on its margins, smoother than a box around a bold
    digit: traced down to it, such a digit grew into a blob of its box's paper.
    (`scipy.stats.median_abs_deviation`'s figure, in numpy: its argument handling cost more
    than the medians, 1.3 ms of the 14 a comb field's page spent in `ink_mask`.)"""
    paper = local[~dilated(sure, steps=CELL_PAPER)]
    if paper.size < MIN_PAPER:
        return 0.0
    centre = np.median(paper)
    spread = MAD_TO_SIGMA * np.median(np.abs(paper - centre))
    return float(centre + NOISE_SIGMAS * spread)


def _drawn_around(mask: np.ndarray, printed: np.ndarray, marks: tuple[np.ndarray, int]
                  ) -> np.ndarray:
    """A ring or a box drawn around the number (`enclosure`), found in the ink left by
    the printed lines, or else in all of it: a box's straight sides are long lines to the
    line finder, which takes some of them (and leaves the others, to be read as 1s)."""
    if not printed.any():
        return enclosure(mask, marks)
    found = enclosure(mask & ~printed)
    return found if found.any() else enclosure(mask, marks, printed)


def _box_lines(printed: np.ndarray, cells: list[tuple[slice, slice]]) -> list[np.ndarray]:
    """Of what the line finder took for printed line in each box of a field, what is: the
    box's sides (`CELL_BORDER`), where the field's lines reach in by their blur and tilt,
    and lines across it, over `CELL_LINE` of its width or height (a pixel either way for
    a tilt), a row of them across another box too (squared paper's, taken for a field: a
    field's boxes share their rows)."""
    inside = [printed[rows, cols] for rows, cols in cells]
    shares = [inked_across(box) for box in inside]
    across = [rows >= CELL_LINE for rows, _ in shares]
    shared = None
    if len({a.size for a in across}) == 1:  # (a field's boxes are equally tall)
        shared = np.sum(across, axis=0) >= 2
    out = []
    for box, rows, (_, down) in zip(inside, across, shares, strict=True):
        lines = _sides(box.shape)
        if shared is not None:
            lines |= (rows & shared)[:, None]
        lines |= (down >= CELL_LINE)[None, :]
        out.append(box & lines)
    return out


def _sides(shape: tuple[int, ...]) -> np.ndarray:
    """bool, a box's `shape`: its pixels within `CELL_BORDER` of its sides (at least 3 px),
    where the field's lines and walls reach in by their blur and tilt."""
    band = max(3, round(CELL_BORDER * min(shape)))
    sides = np.ones(shape, dtype=bool)
    sides[band:-band, band:-band] = False
    return sides


def _unless_within_number(lines: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The printed lines found, or none when none of them reaches past the number (the
    tall marks left beside them) by `BEYOND` of its height: ruled lines and a grid's run on
    past what is written on them, while a digit's own strokes taken for lines (a light 1
    meeting its neighbour's bar, the joined bottoms of touching digits) end within the
    number. A box drawn close around the number has lines past it on all four sides; a
    comb's lines end at its outer walls, close to its digits (it is found first)."""
    if not lines.any():
        return lines
    labels, count = ndimage.label(mask & ~lines, structure=np.ones((3, 3), dtype=bool))
    marks = ndimage.find_objects(labels)
    if not marks or _reach_past(lines, marks):
        return lines
    # What the line finder left of the lines themselves (slivers along their edges) is no
    # mark: on a page with nothing written, those would be "the number" the lines end in.
    remnant = _remnants(labels, count, lines)[1:]
    marks = [mark for mark, left in zip(marks, remnant, strict=True) if not left]
    if not marks or _reach_past(lines, marks):
        return lines
    return np.zeros_like(lines)


def _reach_past(lines: np.ndarray, marks: list[tuple[slice, slice]]) -> bool:
    """Whether the `lines` reach past the tall ones of the `marks` (their boxes) by `BEYOND`
    of their height on one side, or past them on all four (a box around the number)."""
    spans = np.array([(s[0].start, s[0].stop, s[1].start, s[1].stop) for s in marks])
    heights = spans[:, 1] - spans[:, 0]
    tall = spans[heights >= MINOR_HEIGHT * heights.max()]  # not what is left of a line
    top, bottom = tall[:, 0].min(), tall[:, 1].max()
    left, right = tall[:, 2].min(), tall[:, 3].max()
    margin = BEYOND * (bottom - top)
    rows, cols = extent(lines)
    past = np.array([top - rows.start, rows.stop - bottom, left - cols.start, cols.stop - right])
    return bool((past > margin).any() or (past > 0).all())


def _remnants(labels: np.ndarray, count: int, lines: np.ndarray) -> np.ndarray:
    """bool (count + 1,): which components of `labels` are what the line finder left of the
    printed `lines` (`REMNANT_SHARE` of their pixels within 2 px of them, as the capture
    front-end's components step decides)."""
    beside = np.bincount(labels[near_lines(lines)], minlength=count + 1)
    remnant = beside >= REMNANT_SHARE * np.bincount(labels.ravel(), minlength=count + 1)
    remnant[0] = False
    return remnant


def _only_remnants(labels: np.ndarray, boxes: np.ndarray, strong: np.ndarray,
                   lines: np.ndarray) -> bool:
    """Whether every `strong` component is a remnant of the printed `lines` smaller than a
    digit can be (the blots where a ruled page's lines cross its margin, the ends of
    turned lines at the frame) or a dash of one (its box as thin as a rule: a stretch of
    a line the finder left), or grain smaller than a digit on any page: a page with
    nothing written (beside digits, all of them are specks, dropped by their size).
    `boxes`: the components' (`component_boxes`)."""
    sizes = np.vstack(([0, 0], boxes[:, 2:] - boxes[:, :2]))
    small = np.array([smaller_than_a_digit(h, w, labels.shape) for h, w in sizes])
    thin = box_as_thin_as_a_rule(sizes[:, 0], sizes[:, 1])
    if (strong & ~small & ~thin).any():  # (most pages: a mark as big as a digit)
        return False
    # Grain is smaller than a digit, so a mark that is not (here: as thin as a rule) stands
    # only as a remnant. `_remnants` only now: it looks at the whole page.
    grain = sizes.max(axis=1) < MIN_DIGIT_PX
    return not (strong & ~(_remnants(labels, len(boxes), lines) | grain)).any()


def _light_digits(ink: np.ndarray, mask: np.ndarray, labels: np.ndarray, boxes: np.ndarray,
                  strong: np.ndarray, printed: np.ndarray, low: float) -> np.ndarray:
    """`mask` (the `strong` components of `labels`) with each digit written much lighter
    than the others made whole: at the page's ink level such a digit is a few specks, too
    short to be kept, or only its darkest stroke (a 9's stem without its loop). Specks
    shorter than a digit, and marks whose darkest ink is under `LIGHT_MARK` of the other
    marks', are traced (hysteresis) into fainter ink, down to `low` (`FAINT_LEVEL` of that
    level, above the paper's noise); what they reach is kept when it is digit-sized. Grain
    that touches no such mark, and tracing that runs into grain, a shadow (larger than a
    digit) or a digit written normally, change nothing; those digits keep their mask. A
    digit written normally is traced too when its strokes go on in fainter ink (`GROWTH`)
    and its tracing reaches no other digit-tall mark. Tracing goes across printed lines'
    blurred edges, not along them (`_faint_ink`); what it reaches at the frame (shading,
    the lines' ends), or mostly beside the lines (what is left of them), is no digit.
    `boxes`: the components' (`component_boxes`)."""
    if np.count_nonzero(strong) < 2:
        return mask
    heights = np.concatenate(([0], boxes[:, 2] - boxes[:, 0]))[strong]
    median = float(np.median(heights[heights >= 0.5 * heights.max()]))
    peaks = component_peaks(labels, len(boxes), ink)[strong]
    fragment = heights < FRAGMENT_HEIGHT * median
    light = np.zeros_like(strong)
    light[strong] = fragment | (peaks < LIGHT_MARK * float(np.median(peaks)))
    traced, reached = ndimage.label(mask | _faint_ink(ink >= low, printed),
                                    structure=np.ones((3, 3), dtype=bool))
    seeded = np.zeros(reached + 1, dtype=bool)
    lit = light[labels]
    seeded[traced[lit]] = True
    seeded[traced[mask & ~lit]] = False  # a normal digit's halo: as it was...
    seeded[0] = False
    # ...unless it is the one digit-tall mark its tracing reaches (with fragments of its
    # own, perhaps) and its strokes go on in fainter ink (a pencil lifted for a 7's or a
    # 5's bar, a 9's loop): `_continued`.
    tall = np.zeros_like(strong)
    tall[strong] = ~fragment
    owners = np.unique(traced[mask].astype(np.int64) * len(strong) + labels[mask])
    owners = owners[tall[owners % len(strong)]]
    alone = np.bincount(owners // len(strong), minlength=reached + 1) == 1
    owner = np.zeros(reached + 1, dtype=np.int64)
    owner[owners // len(strong)] = owners % len(strong)
    continued = alone & ~light[owner] & ~seeded
    continued[0] = False
    tallest = EDGE_HEIGHT * float(heights.max())  # the size drifts along a row
    out = mask.copy()
    beside = near_lines(printed)
    spans = component_boxes(traced)
    framed = at_frame(spans, mask.shape, EDGE)
    for i in np.flatnonzero(seeded | continued):
        top, left, bottom, right = spans[i - 1]
        rows, cols = slice(top, bottom), slice(left, right)
        height, width = bottom - top, right - left
        if not FRAGMENT_HEIGHT * median <= height <= tallest or width > tallest:
            continue
        if framed[i - 1]:  # shading, the ends of lines at the frame
            continue
        region = traced[rows, cols] == i
        if continued[i] and not _continued(region, labels[rows, cols] == owner[i]):
            continue
        added = region & ~mask[rows, cols]
        if np.count_nonzero(added & beside[rows, cols]) >= REMNANT_SHARE * added.sum():
            continue  # what is left of the printed lines (`_remnants`' measure)
        out[rows, cols] |= region
    return out


def _faint_ink(faint: np.ndarray, printed: np.ndarray) -> np.ndarray:
    """`faint` without the printed lines and their blurred edges (the `EDGE_PX` around
    them): light ink reaches the edges, and a light digit traced along them would join the
    lines (on squared paper, the page's whole grid). Where its strokes cross a line, the
    edges between its pieces on either side stay (a closing `BRIDGE` px wide); the line
    itself is never traced, as before."""
    box = grown_extent(printed, BRIDGE)  # no filter below reaches further from the lines
    if box is None:
        return faint
    edged = np.zeros_like(printed)
    edged[box] = extremes.maximum_filter(printed[box].view(np.uint8), 2 * EDGE_PX + 1)
    apart = faint & ~edged
    closed = extremes.minimum_filter(
        extremes.maximum_filter(apart[box].view(np.uint8), BRIDGE), BRIDGE).view(bool)
    apart[box] |= closed & faint[box] & edged[box] & ~printed[box]
    return apart


def _continued(region: np.ndarray, mark: np.ndarray) -> bool:
    """Whether the faint ink traced from a mark is more of its strokes, not only their
    blurred edges: at least `GROWTH` of the mark's pixels lie beyond two pixels of it."""
    beyond = region & ~dilated(mark, steps=2)
    return np.count_nonzero(beyond) >= GROWTH * np.count_nonzero(mark)


def _pad_after(values: np.ndarray, below: int, right: int) -> np.ndarray:
    """`values` with `below` blank rows under it and `right` blank columns beside it
    (`np.pad`'s zeros, without its overhead: one allocation and one copy)."""
    height, width = values.shape
    out = np.zeros((height + below, width + right), dtype=values.dtype)
    out[:height, :width] = values
    return out


def _margin(side: int) -> int:
    """The blank margin the line finder needs beside a strip of a page `side` px long to
    find what it finds on the strip padded to a square: its thin-ink test (squares as wide
    as a line is thick) and its crossing test (closings a little longer than that) reach
    no further across the page's edge."""
    thickness = max(3, round(LINE_THICKNESS * side))
    return 2 * thickness + 16
