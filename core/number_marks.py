"""Finding a number's digits on its page, before any cut: its ink, and its marks grouped.

The page goes through the capture front-end's first steps (`core.capture`: the paper
divided out, ink in any colour, printed lines removed, unless all of them end within the
number: then they were the digits' own strokes, `_unless_within_number`; in a form's comb
field, its boxes found, `core.comb`). A digit written much lighter than the others, only a
few specks at the page's ink level, or whose strokes fade (a pencil lifted for a 7's bar), is
traced whole into its fainter ink (`_light_digits`). The ink's connected components, specks
and marks at the frame's edge left out, are then grouped by their overlap in x: a detached
bar of a 5, the two strokes of a 4, a broken loop join the digit above or below them; what
is much smaller than the median digit and overlaps none (a decimal point, a hyphen) is
dropped (`mark_groups`); in a comb field, each inked box is one group (`cell_groups`).
Cutting the groups and reading them is `core.numbers`'.
"""

from __future__ import annotations

import itertools
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
    box_gaps,
    grown_extent,
    hysteresis,
    ink_against_paper,
    ink_threshold,
    near_lines,
    noise_level,
    printed_lines,
    reduce_blocks,
    shaded_marks,
    smaller_than_a_digit,
)
from core.comb import box_cells, box_walls, comb_cells, inked_across, tick_cells
from core.cuts import SLIVER, Group, dilated
from core.enclosure import enclosure
from core.imaging import ImageError, component_boxes, component_peaks, extent, stroke_width
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
MAX_MARKS = 32
"""More digit-like components than this: a page of text, not a number."""
MINOR_HEIGHT = 0.45
"""A group less tall than this fraction of the median digit height is not a digit (a
point, a hyphen, a comma) unless it overlaps a digit in x."""
SPECK_HEIGHT = 0.2
"""Components shorter and narrower than this fraction of the median height are specks."""
RULE_WIDTH = 0.12
"""A component this narrow for its height, and taller than `RULE_HEIGHT` times the median
digit (or half as narrow), is what is left of a printed line, not a 1."""
RULE_HEIGHT = 1.15
EDGE_HEIGHT = 1.3
"""Marks touching the frame count when at most this many median digit heights tall and wide."""
BAR_BAND = 0.35
"""A short mark whose centre is in this top fraction of a digit's height beside it..."""
BAR_GAP = 0.15
"""...and at most this many median heights away from it (`BAR_ABOVE` when right above it,
over it in x), and at least `BAR_ASPECT` times as wide as tall, is the digit's detached
bar. So is such a mark over a digit in x with its centre within the rows of the digit's
tallest part (a 2's base parted from it where a ruled line was taken out)."""
BAR_ABOVE = 0.3
BAR_ASPECT = 1.5
LINE_HEIGHT = 2.0
"""A group at least `BAR_ASPECT` times as wide as tall and less tall than this many times
its stroke is thick is a line (a form's dash with nothing written above it, a hyphen), not a
digit: a digit, however flat, is several strokes tall."""
FRAGMENT_HEIGHT = 0.7
"""Pieces under this fraction of the median height, beside a digit, join it."""
JOIN_OVERLAP = 0.5
"""Pieces overlapping in x by this fraction of the narrower one's width are one digit..."""
JOIN_GAP = 0.5
"""...when the vertical gap between them is under this fraction of the median height."""
EMPTY_BOX = 0.25
"""A box whose ink is less tall than this fraction of it holds no digit."""
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


def mark_groups(mask: np.ndarray, ink: np.ndarray) -> list[Group]:
    """The digit-sized groups of components, left to right: the marks that may be digits
    (`_digit_marks`), the pieces of one digit joined (overlapping, a detached bar,
    fragments), and what is no digit among the groups dropped (`_as_groups`)."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise ImageError("no digit found")
    boxes, alive, median = _digit_marks(labels, count, mask, ink)
    members = [[i] for i in np.flatnonzero(alive)]
    if len(members) > 4 * MAX_MARKS:  # digit-sized or not: bounded work
        raise ImageError("too many marks to read as a number")
    members = _join_overlapping(members, boxes, median)
    members = _join_bars(members, boxes, median)
    members = _join_fragments(members, boxes, median)
    groups = _as_groups(members, boxes, labels, count, median)
    if not groups:
        raise ImageError("no digit found")
    if len(groups) > MAX_MARKS:
        raise ImageError("too many marks to read as a number")
    groups.sort(key=lambda g: (g.cols.start + g.cols.stop) / 2)
    return groups


def _digit_marks(labels: np.ndarray, count: int, mask: np.ndarray, ink: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """The components' boxes (top, left, bottom, right), which of them may be digits (not
    shading at the frame, a speck, what is left of a printed rule, nor a mark at the frame
    larger than a digit), and the digits' median height. Raises `ImageError` when none
    may be, or when more than `MAX_MARKS` digit-sized ones may."""
    boxes = component_boxes(labels)
    heights = boxes[:, 2] - boxes[:, 0]
    widths = boxes[:, 3] - boxes[:, 1]
    edge = at_frame(boxes, mask.shape, EDGE)
    # Shading at the frame (a shadow's band, the page's edge in shade) is no mark: a pen's
    # stroke has sharp edges, however soft the photo (`shaded_marks`).
    shade = edge & shaded_marks(labels, count, mask, ink, edge) if edge.any() else edge
    if shade.all():
        raise ImageError("no digit found")
    big = ~shade & (heights >= max(5, 0.3 * heights[~shade].max()))
    if (big & ~edge).any():
        big &= ~edge
    if not big.any():
        raise ImageError("no digit found")
    thin = widths <= RULE_WIDTH * heights
    if (big & ~thin).any():
        median = float(np.median(heights[big & ~thin]))
        # What is left of a printed line (a comb field's ticks) is straight, thin and taller
        # than the digits; a 1 is seldom all three.
        rule = thin & ((heights > RULE_HEIGHT * median) | (widths <= 0.5 * RULE_WIDTH * heights))
    else:
        median, rule = float(np.median(heights[big])), np.zeros_like(thin)
    speck = (heights < SPECK_HEIGHT * median) & (widths < SPECK_HEIGHT * median)
    alive = ~speck & ~rule & (~edge | big) & ~shade
    if (alive & ~edge).any():
        # A number is often cropped tight: a digit-sized mark at the frame's edge is a digit;
        # a larger one is the table, a finger, the page's edge.
        digit_sized = (heights <= EDGE_HEIGHT * median) & (widths <= EDGE_HEIGHT * median)
        alive &= ~edge | digit_sized
    if np.count_nonzero(alive & (heights >= FRAGMENT_HEIGHT * median)) > MAX_MARKS:
        raise ImageError("too many marks to read as a number")
    return boxes, alive, median


def _as_groups(members: list[list[int]], boxes: np.ndarray, labels: np.ndarray, count: int,
               median: float) -> list[Group]:
    """Each group of components (`members`, indices into `boxes`) as a `Group`, but a
    point, a hyphen or a comma (shorter than `MINOR_HEIGHT` of the digits) and what is
    shaped as a line (`_a_line`), which are dropped."""
    groups = []
    for group in members:
        top, left = boxes[group, 0].min(), boxes[group, 1].min()
        bottom, right = boxes[group, 2].max(), boxes[group, 3].max()
        if bottom - top < MINOR_HEIGHT * median:
            continue  # a point, a hyphen, a comma: dropped
        rows, cols = slice(int(top), int(bottom)), slice(int(left), int(right))
        member = np.zeros(count + 1, dtype=bool)  # (a lookup: np.isin sorts)
        member[np.asarray(group) + 1] = True
        chosen = member[labels[rows, cols]]
        if _a_line(chosen):
            continue
        groups.append(Group(chosen, rows, cols))
    return groups


def _a_line(chosen: np.ndarray) -> bool:
    """Whether a group's ink is a line, not a digit (`LINE_HEIGHT`, against its strokes' mean
    width: `stroke_width`)."""
    height, width = chosen.shape
    return width >= BAR_ASPECT * height and height < LINE_HEIGHT * stroke_width(chosen)


def cell_groups(mask: np.ndarray, cells: list[tuple[slice, slice]]) -> list[Group]:
    """One group per inked box of a comb field, left to right: a box holds one digit (all
    its parts but specks and slivers: a small part at the box's side crosses in from a
    neighbour's box, while a faint digit's detached bar or broken loop stays); an empty
    box, or one with only specks, is skipped."""
    groups = []
    for rows, cols in cells:
        inside = mask[rows, cols]
        labels, count = ndimage.label(inside, structure=np.ones((3, 3), dtype=bool))
        if count == 0:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        parts = ndimage.find_objects(labels)
        tallest = max(p[0].stop - p[0].start for p in parts)
        small = sizes < SLIVER * sizes.max()
        at_side = np.array([p[1].start <= 1 or p[1].stop >= inside.shape[1] - 1 for p in parts])
        speck = np.array([max(p[0].stop - p[0].start, p[1].stop - p[1].start)
                          < SPECK_HEIGHT * tallest for p in parts])
        keep = np.concatenate(([False], ~small | ~(at_side | speck)))
        inside = keep[labels]
        found = np.flatnonzero(inside.any(axis=1))
        if found[-1] - found[0] + 1 < EMPTY_BOX * (rows.stop - rows.start):
            continue  # specks, a wall's remnant
        groups.append(Group(inside, rows, cols))
    if not groups:
        raise ImageError("no digit found")
    if len(groups) > MAX_MARKS:
        raise ImageError("too many marks to read as a number")
    return groups


def _join_overlapping(members: list[list[int]], boxes: np.ndarray,
                      median: float) -> list[list[int]]:
    """Merge groups that overlap in x by `JOIN_OVERLAP` of the narrower one and are
    vertically near: the strokes of one digit, which neighbours never overlap that much."""
    changed = True
    while changed:
        changed = False
        extents = _extents(members, boxes)
        order = sorted(range(len(members)), key=lambda i: extents[i][1])
        for a, b in itertools.combinations(order, 2):
            _, la, _, ra = extents[a]
            _, lb, _, rb = extents[b]
            overlap = min(ra, rb) - max(la, lb)
            narrower = min(ra - la, rb - lb)
            gap = box_gaps(extents[a], extents[b])[0]
            if overlap >= JOIN_OVERLAP * narrower and gap <= JOIN_GAP * median:
                members[a] = members[a] + members[b]
                del members[b]
                changed = True
                break
    return members


def _extents(members: list[list[int]], boxes: np.ndarray) -> np.ndarray:
    """(top, left, bottom, right) of each group of components."""
    return np.array([(boxes[g, 0].min(), boxes[g, 1].min(), boxes[g, 2].max(),
                      boxes[g, 3].max()) for g in members])


def _gaps(extents: np.ndarray, piece: int, others: np.ndarray) -> np.ndarray:
    """The horizontal gap between a group and each of `others` (0 where they overlap)."""
    return box_gaps(extents[piece], extents[others])[1]


def _attached(members: list[list[int]], owners: dict[int, int]) -> list[list[int]]:
    """`members` with each group `p` of `owners` joined to the group `owners[p]`."""
    joined: dict[int, list[int]] = {}
    for piece, owner in owners.items():
        joined.setdefault(owner, []).append(piece)
    return [[c for j in (i, *joined.get(i, ())) for c in members[j]]
            for i in range(len(members)) if i not in owners]


def _join_fragments(members: list[list[int]], boxes: np.ndarray,
                    median: float) -> list[list[int]]:
    """A piece too short to be a digit (under `FRAGMENT_HEIGHT` of the median) but too tall
    for a point or a hyphen, right beside a digit, is a broken-off stroke of it."""
    extents = _extents(members, boxes)
    heights = extents[:, 2] - extents[:, 0]
    digits = np.flatnonzero(heights >= FRAGMENT_HEIGHT * median)
    fragments = np.flatnonzero((heights < FRAGMENT_HEIGHT * median)
                               & (heights >= MINOR_HEIGHT * median))
    owners = {}
    for f in fragments if digits.size else ():
        gaps = _gaps(extents, f, digits)
        if gaps.min() <= JOIN_GAP * 0.3 * median:
            owners[int(f)] = int(digits[np.argmin(gaps)])
    return _attached(members, owners)


def _join_bars(members: list[list[int]], boxes: np.ndarray, median: float
               ) -> list[list[int]]:
    """A mark too short to be a digit and wider than tall (a stroke across, not a dot) is the
    detached bar of the digit (any mark tall enough to be kept, a small one too) whose upper
    part it is beside (its centre in the top `BAR_BAND` of the digit's height, at most
    `BAR_GAP` median heights away across, or `BAR_ABOVE` right above it: a 5's or a 7's,
    lifted with the pen), or that it lies over in x within the rows of the digit's tallest
    part (a 2's base parted from it by a ruled line taken out; not what lies below that
    part, as a box's line left under the digit); a hyphen or a point sits lower, between
    or after the digits."""
    extents = _extents(members, boxes)
    heights = extents[:, 2] - extents[:, 0]
    widths = extents[:, 3] - extents[:, 1]
    digits = np.flatnonzero(heights >= MINOR_HEIGHT * median)
    marks = np.flatnonzero((heights < MINOR_HEIGHT * median) & (widths >= BAR_ASPECT * heights))
    # the rows of each digit's tallest part: not of what else joined it (a line's remnant)
    spines = np.array([boxes[max(members[d], key=lambda c: boxes[c, 2] - boxes[c, 0])][[0, 2]]
                       for d in digits]).reshape(-1, 2)
    tops = extents[digits, 0]
    bands = tops + BAR_BAND * heights[digits]  # where a bar beside a digit has its centre
    owners = {}
    for m in marks if digits.size else ():
        gaps = _gaps(extents, m, digits)
        over = gaps == 0
        top, bottom = extents[m, 0], extents[m, 2]
        centre = (top + bottom) / 2
        reach = np.where(over, BAR_ABOVE, BAR_GAP) * median
        beside = ((gaps <= BAR_GAP * median) & (centre <= bands) & (bottom >= tops - reach)
                  | over & (centre >= spines[:, 0]) & (centre <= spines[:, 1]))
        if beside.any():
            owners[int(m)] = int(digits[np.flatnonzero(beside)[np.argmin(gaps[beside])]])
    return _attached(members, owners)
