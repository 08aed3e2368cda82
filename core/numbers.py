"""Reading a number written on one image: segmentation into digits, by recognition.

The page goes through the capture front-end's first two steps (`core.capture`: the paper
divided out, ink in any colour, printed lines removed, unless all of them end within the
number: then they were the digits' own strokes, `_unless_within_number`); then, instead of
one digit:

1. the ink's connected components, specks and marks at the frame's edge left out, are
   sorted by the x of their centre (a drifting baseline or a slightly turned line keeps
   that order); a digit written much lighter than the others, only a few specks at the
   page's ink level, or whose strokes fade (a pencil lifted for a 7's bar), is traced
   whole into its fainter ink first (`_light_digits`);
2. pieces are grouped by their overlap in x: a detached bar of a 5, the two strokes of a 4,
   a broken loop join the digit above or below them; what is much smaller than the median
   digit and overlaps none (a decimal point, a hyphen) is dropped;
3. a group much wider than the others may hold touching or overlapping neighbours: it is
   cut at minima of its column projection into 1 to `MAX_PIECES` pieces, and of the
   candidate cuts (at most `MAX_CANDIDATES` pieces per image) the one whose pieces the
   classifier reads most confidently wins (segmentation by recognition);
4. every piece is normalised exactly as a single digit is (`core.imaging.normalise`) and
   all candidates of an image are read in one batched `DigitModel.predict` call.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from core.capture import (
    EDGE,
    LINE_THICKNESS,
    LINE_TRACE,
    TINY_SIDE,
    TRACE_LEVEL,
    Box,
    _at_frame,
    _even_strokes,
    _extent,
    _ink_threshold,
    _longest_run,
    _noise_level,
    _reduce,
    _scaled,
    hysteresis,
    ink_against_paper,
    printed_lines,
    read_digit,
)
from core.imaging import ImageError, ImageLimits, decode_page, normalise
from core.model import DigitModel
from core.results import DigitRead, Result

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
"""...and at most this many median heights away from it, and at least `BAR_ASPECT` times as
wide as tall, is the digit's detached bar."""
BAR_ASPECT = 1.5
FRAGMENT_HEIGHT = 0.7
"""Pieces under this fraction of the median height, beside a digit, join it."""
JOIN_OVERLAP = 0.5
"""Pieces overlapping in x by this fraction of the narrower one's width are one digit..."""
JOIN_GAP = 0.5
"""...when the vertical gap between them is under this fraction of the median height."""
SPLIT_WIDTH = 1.0
"""A group wider than this many times the typical digit width may hold several digits: it
is offered cuts, and reading chooses (a 1 touching its neighbour makes a pair hardly wider
than a wide digit; a wide digit read whole keeps its width)."""
MAX_CUTS = 20
"""Candidate cut points per group, at most (the deepest minima of its column projection)."""
HEIGHT_SPREAD = 0.3
"""The spread (in log of the height ratio) of a whole digit's height under its group's."""
MIN_PIECE, MAX_PIECE = 0.15, 1.8
"""A candidate piece is this many typical digit widths wide, at least and at most."""
WALL_FRACTION = 0.5
"""A box's wall is a vertical run at least this fraction of the printed lines' span..."""
WALL_WIDTH = 0.2
"""...and at most this fraction as wide as tall."""
SLIVER = 0.25
"""Parts of a cut piece with less ink than this fraction of its largest part are slivers of
a neighbour."""
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
EMPTY_BOX = 0.25
"""A box whose ink is less tall than this fraction of it holds no digit."""
CELL_LEVEL = 0.2
"""In a comb field's box, ink is what reaches this fraction of the box's darkest ink."""
MAX_CANDIDATES = 160
"""Pieces read per image to choose the cuts, at most (bounded work per image)."""
WHOLE_WEIGHT = 0.5
"""The verifier's P(whole digit) counts as its square root (its log times this) in the cut
search: trained on MNIST's own hand, it doubts other writers' whole digits (under 0.5 for
18% of the right digits of seed 7's tight numbers), and at full weight it kept such a digit
joined to its neighbour."""
SPLIT_PRIOR = 0.5
"""Each extra piece of a cutting weighs as a digit read with this confidence: a wide digit
(a 0, a 4) is not cut into two narrow ones read a little more confidently."""
WIDER_SPREAD, NARROWER_SPREAD = 0.5, 1.0
"""The spread (in log of the width ratio) of digit widths around the typical one."""
ONE_WIDTH = 0.42
"""A 1's typical width, in typical digit widths: the median width of MNIST's training 1s
over the upper quartile of its other digits' (their height the same)."""
TYPICAL_ASPECT = 0.7
"""A digit's width over its height when no unsplit neighbour tells better."""
WIDE_ASPECT = 0.9
"""A digit seldom is wider than this fraction of its height."""
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


@dataclass(frozen=True)
class NumberRead:
    """A whole number: its digits left to right."""

    digits: tuple[DigitRead, ...]

    @property
    def text(self) -> str:
        return "".join(str(d.prediction) for d in self.digits)

    @property
    def confidence(self) -> float:
        """The probability that every digit is right (the calibrated confidences' product)."""
        return float(np.prod([d.confidence for d in self.digits]))

    @property
    def box(self) -> Box:
        """The box around all the digits."""
        x0 = min(d.box[0] for d in self.digits)
        y0 = min(d.box[1] for d in self.digits)
        x1 = max(d.box[0] + d.box[2] for d in self.digits)
        y1 = max(d.box[1] + d.box[3] for d in self.digits)
        return (x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True)
class _Group:
    """One digit-sized group of components: its mask and box on the analysed page."""

    mask: np.ndarray
    """bool, over the page crop `rows`, `cols`"""
    rows: slice
    cols: slice


@dataclass(frozen=True)
class Segmentation:
    """An image cut into candidate pieces. Each group (left to right) has cut points
    `0..n` along its width; a candidate piece spans two of them; a reading of the group is
    a path of pieces from its first cut point to its last."""

    digits: list[np.ndarray]
    """uint8 (28, 28) each, every candidate piece of every group"""
    boxes: list[Box]
    widths: list[float]
    """per piece: its width in typical digit widths (`_width_fit` weighs it once read)"""
    shapes: list[float]
    """per piece: the log-likelihood of its height for one digit (`_height_fit`)"""
    groups: list[tuple[int, list[tuple[int, int, int]]]]
    """per group: its last cut point and its pieces `(from, to, index into digits)`"""


def segment(pixels: np.ndarray, scale: float = 1.0, outline_cuts: bool = False
            ) -> Segmentation:
    """A decoded page (`core.imaging.decode_page`) to its candidate digit pieces, with cut
    points at the valleys of a wide group's outline too when `outline_cuts` (for a model
    with the whole-digit verifier: more candidates help only when something tells a whole
    digit from a fragment). Raises `ImageError` for no digit or too many marks."""
    pixels = np.asarray(pixels)
    if max(pixels.shape[:2]) <= TINY_SIDE:  # an icon or an MNIST image: one digit
        digit, box = read_digit(pixels, scale)
        return Segmentation([digit], [box], [1.0], [0.0], [(1, [(0, 1, 0)])])
    factor = _analysis_factor(pixels)
    page = _reduce(pixels, factor) if factor > 1 else pixels
    ink, mask, threshold, cells = _ink_mask(page)
    groups = _groups(mask) if cells is None else _cell_groups(mask, cells)
    digits: list[np.ndarray] = []
    boxes: list[Box] = []
    ratios: list[float] = []
    shapes: list[float] = []
    found: list[tuple[int, list[tuple[int, int, int]]]] = []
    widths = [g.cols.stop - g.cols.start for g in groups]
    heights = [g.rows.stop - g.rows.start for g in groups]
    budget = MAX_CANDIDATES - len(groups)
    for group, width, typical in zip(groups, widths, _typical_widths(widths, heights),
                                     strict=True):
        cuts, spans = [0, width], [(0, 1)]
        if width > SPLIT_WIDTH * typical and budget > 0:
            local = ink[group.rows, group.cols] * group.mask
            cuts, spans = _candidate_cuts(local, typical, budget, outline_cuts)
            budget -= len(spans) - 1
        pieces = []
        for start, stop in spans:
            piece = _piece(ink, group, cuts[start], cuts[stop], threshold)
            if piece is None:
                continue
            try:
                digits.append(normalise(piece[0]))
            except ImageError:
                continue
            boxes.append(_scaled(piece[1], scale * factor))
            ratios.append((cuts[stop] - cuts[start]) / typical)
            shapes.append(_height_fit(piece[1][3] / (group.rows.stop - group.rows.start)))
            pieces.append((start, stop, len(digits) - 1))
        if any(a == 0 for a, _, _ in pieces):
            found.append((len(cuts) - 1, pieces))
    if not found:
        raise ImageError("no digit found")
    return Segmentation(digits, boxes, ratios, shapes, found)


def read_number(model: DigitModel, pixels: np.ndarray, scale: float = 1.0) -> NumberRead:
    """The number on a decoded page, read by one batched predict call."""
    found = segment(pixels, scale, model.wholeness is not None)
    return choose(found, *_predict(model, [found]))[0]


def read_numbers(model: DigitModel, pages: Sequence[tuple[np.ndarray, float]]
                 ) -> list[NumberRead | ImageError]:
    """Each decoded page `(pixels, scale)` to its number, or the `ImageError` saying why
    not; the candidate pieces of all pages are read in one predict call."""
    found: list[Segmentation | ImageError] = []
    for pixels, scale in pages:
        try:
            found.append(segment(pixels, scale, model.wholeness is not None))
        except ImageError as exc:
            found.append(exc)
    good = [s for s in found if isinstance(s, Segmentation)]
    labels, confidence, runner_up, whole = _predict(model, good)
    out: list[NumberRead | ImageError] = []
    offset = 0
    for item in found:
        if isinstance(item, ImageError):
            out.append(item)
            continue
        n = len(item.digits)
        window = slice(offset, offset + n)
        out.append(choose(item, labels[window], confidence[window], runner_up[window],
                          None if whole is None else whole[window])[0])
        offset += n
    return out


def _predict(model: DigitModel, segmentations: Sequence[Segmentation]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Labels, confidences, runner-ups and P(whole digit) (None: the model has no
    verifier) of every candidate piece: their features computed once for both."""
    digits = [d for s in segmentations for d in s.digits]
    if not digits:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty.astype(np.int64), None
    features = model.features(np.stack(digits))
    predictions = model.predictor.predict(features)
    whole = model.whole(features) if any(len(s.digits) > len(s.groups) for s in
                                         segmentations) else None
    return (np.asarray(predictions.labels), np.asarray(predictions.confidence, np.float64),
            np.asarray(predictions.runner_up), whole)


def choose(found: Segmentation, labels: np.ndarray, confidence: np.ndarray,
           runner_up: np.ndarray, whole: np.ndarray | None = None
           ) -> tuple[NumberRead, list[int]]:
    """The reading: per group, the path of pieces most probably all right and all whole
    digits (the product of their calibrated confidences and, when the model has the
    verifier, their P(whole digit) to the power `WHOLE_WEIGHT`; each extra piece weighed
    by `SPLIT_PRIOR`: a Viterbi
    search over the cut points); and the pieces chosen. The digits keep the classifier's
    own confidences."""
    chosen: list[int] = []
    penalty = float(np.log(SPLIT_PRIOR))
    fit = (np.zeros(len(labels)) if whole is None
           else WHOLE_WEIGHT * np.log(np.maximum(whole, 1e-6)))
    for last, pieces in found.groups:
        best = np.full(last + 1, -np.inf)
        best[0] = 0.0
        back: list[tuple[int, int] | None] = [None] * (last + 1)
        for start, stop, index in sorted(pieces):
            if np.isfinite(best[start]):
                score = (best[start] + float(np.log(max(confidence[index], 1e-6)))
                         + float(fit[index]) + found.shapes[index]
                         + _width_fit(found.widths[index], int(labels[index]))
                         + (penalty if start else 0.0))
                if score > best[stop]:
                    best[stop], back[stop] = score, (start, index)
        end = last if np.isfinite(best[last]) else int(np.flatnonzero(np.isfinite(best))[-1])
        path = []
        while end and back[end] is not None:
            start, index = back[end]  # type: ignore[misc]  # set whenever best is finite
            path.append(index)
            end = start
        chosen += path[::-1]
    digits = tuple(
        DigitRead(int(labels[i]), round(float(confidence[i]), 4), int(runner_up[i]),
                  found.boxes[i], found.digits[i]) for i in chosen)
    return NumberRead(digits), chosen


# --- ink and components -------------------------------------------------------------------

def _analysis_factor(pixels: np.ndarray) -> int:
    """The whole factor the page is reduced by: its digits at least `DIGIT_SIDE` px tall (their
    height measured on a small copy: the tall components that are not lines), and its
    longest side at most `ANALYSIS_SIDE`."""
    longest = max(pixels.shape[:2])
    bound = max(1, -(-longest // ANALYSIS_SIDE))
    if pixels.shape[0] < 2 * DIGIT_SIDE:  # no digit can be tall enough to reduce
        return bound
    survey = max(1, -(-longest // SURVEY_SIDE))
    small = _reduce(pixels, survey) if survey > 1 else pixels
    ink = ink_against_paper(small)
    threshold, _ = _ink_threshold(ink)
    labels, count = ndimage.label(ink >= threshold, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return bound
    boxes = np.array([(s[0].stop - s[0].start, s[1].stop - s[1].start)
                      for s in ndimage.find_objects(labels)])
    heights, widths = boxes[:, 0], boxes[:, 1]
    # not a printed line, a box around the digits or the frame
    marks = heights[(heights >= 4) & (widths <= 2 * heights) & (heights < 0.9 * small.shape[0])]
    if marks.size == 0:
        return bound
    height = float(np.median(marks[marks >= 0.5 * marks.max()])) * survey
    return max(bound, int(height // DIGIT_SIDE))


def _ink_mask(page: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, float, list[tuple[slice, slice]] | None]:
    """The capture front-end's ink (float32 in [0, 1]) and its mask without printed lines
    and without components that never reach the ink threshold; that threshold; and the
    boxes of a comb field when the page is one (`_comb_cells`)."""
    ink = ndimage.uniform_filter(ink_against_paper(page, clip=False), size=3)
    noise = _noise_level(ink)  # of the unclipped ink: clipped, the paper's spread is lost
    threshold, floor = _ink_threshold(ink, noise)
    ink = np.clip(ink, 0.0, 1.0, out=ink)
    level = max(floor, threshold / 2)
    mask = ink >= level
    traced = [ndimage.uniform_filter1d(ink, LINE_TRACE, axis=axis) >= TRACE_LEVEL * level
              for axis in (1, 0)]
    # A number is often photographed as a strip: printed lines are long against its longer
    # side, not its shorter one (a digit's stroke is as tall as the strip). The line finder
    # measures them so, as if the strip were on a square page; the blank margin below or
    # beside it is all of that page it needs (`_margin`: its filters reach no further).
    h, w = mask.shape
    side = max(h, w)
    margin = _margin(side)
    pad = ((0, min(max(0, w - h), margin)), (0, min(max(0, h - w), margin)))
    padded = [np.pad(m, pad) for m in (mask, *traced)]
    lines = printed_lines(*padded, ink=np.pad(ink, pad), side=side)[:h, :w]
    cells = _comb_cells(mask, lines)
    # A comb's boxes lie between its walls; elsewhere what is left of a box's walls is
    # found by its ends on printed lines (a tall 1 in a comb's box could look like one).
    printed = lines if cells is not None else _unless_within_number(
        lines | _box_walls(mask & ~lines, lines), mask)
    mask &= ~printed
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0 and cells is None:
        raise ImageError("no digit found")
    strong = np.bincount(labels[ink >= threshold], minlength=count + 1) > 0
    strong[0] = False
    mask = strong[labels]
    low = max(noise, FAINT_LEVEL * level)
    if cells is None and low < level:
        mask = _light_digits(ink, mask, labels, strong, printed, low)
    # a comb box's faint ink is traced, but not along the printed lines' blurred edges
    near = ndimage.binary_dilation(printed, iterations=2) if cells else None
    for rows, cols in cells or ():
        # A box holds one digit: its ink is measured against its own darkest, so a faint
        # digit beside bold ones keeps its thin strokes.
        local = ink[rows, cols]
        peak = float(local.max(initial=0.0))
        if peak >= threshold / 2:  # not the noise or a line's edge in an empty box
            sure = (local >= max(floor, CELL_LEVEL * peak)) & ~printed[rows, cols]
            # a light digit's faintest strokes, traced from its surer ones
            faint = (local >= max(noise, FAINT_LEVEL * CELL_LEVEL * peak)) & ~near[rows, cols]
            mask[rows, cols] = hysteresis(faint, sure)
    return ink, mask, threshold, cells


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
    if count == 0:
        return lines
    spans = np.array([(s[0].start, s[0].stop, s[1].start, s[1].stop)
                      for s in ndimage.find_objects(labels)])
    heights = spans[:, 1] - spans[:, 0]
    marks = spans[heights >= MINOR_HEIGHT * heights.max()]  # not what is left of a line
    top, bottom = marks[:, 0].min(), marks[:, 1].max()
    left, right = marks[:, 2].min(), marks[:, 3].max()
    margin = BEYOND * (bottom - top)
    rows, cols = _extent(lines)
    past = np.array([top - rows.start, rows.stop - bottom, left - cols.start, cols.stop - right])
    if (past > margin).any() or (past > 0).all():  # ...or a box around the number
        return lines
    return np.zeros_like(lines)


def _light_digits(ink: np.ndarray, mask: np.ndarray, labels: np.ndarray, strong: np.ndarray,
                  printed: np.ndarray, low: float) -> np.ndarray:
    """`mask` (the `strong` components of `labels`) with each digit written much lighter
    than the others made whole: at the page's ink level such a digit is a few specks, too
    short to be kept, or only its darkest stroke (a 9's stem without its loop). Specks
    shorter than a digit, and marks whose darkest ink is under `LIGHT_MARK` of the other
    marks', are traced (hysteresis) into fainter ink, down to `low` (`FAINT_LEVEL` of that
    level, above the paper's noise); what they reach is kept when it is digit-sized. Grain
    that touches no such mark, and tracing that runs into grain, a shadow (larger than a
    digit) or a digit written normally, change nothing; those digits keep their mask. A
    digit written normally is traced too when its strokes go on in fainter ink (`GROWTH`)
    and its tracing reaches no other digit-tall mark."""
    if np.count_nonzero(strong) < 2:
        return mask
    slices = ndimage.find_objects(labels)
    heights = np.array([0] + [s[0].stop - s[0].start for s in slices])[strong]
    median = float(np.median(heights[heights >= 0.5 * heights.max()]))
    inside = labels > 0
    peaks = np.zeros(len(strong), dtype=ink.dtype)
    np.maximum.at(peaks, labels[inside], ink[inside])  # (ndimage.maximum sorts the page)
    peaks = peaks[strong]
    fragment = heights < FRAGMENT_HEIGHT * median
    light = np.zeros_like(strong)
    light[strong] = fragment | (peaks < LIGHT_MARK * float(np.median(peaks)))
    traced, reached = ndimage.label(mask | (ink >= low) & ~printed,
                                    structure=np.ones((3, 3), dtype=bool))
    seeded = np.zeros(reached + 1, dtype=bool)
    seeded[traced[light[labels]]] = True
    seeded[traced[mask & ~light[labels]]] = False  # a normal digit's halo: as it was...
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
    reach = ndimage.find_objects(traced)
    for i in np.flatnonzero(seeded | continued):
        rows, cols = reach[i - 1]
        height, width = rows.stop - rows.start, cols.stop - cols.start
        if not FRAGMENT_HEIGHT * median <= height <= tallest or width > tallest:
            continue
        region = traced[rows, cols] == i
        if continued[i] and not _continued(region, labels[rows, cols] == owner[i]):
            continue
        out[rows, cols] |= region
    return out


def _continued(region: np.ndarray, mark: np.ndarray) -> bool:
    """Whether the faint ink traced from a mark is more of its strokes, not only their
    blurred edges: at least `GROWTH` of the mark's pixels lie beyond two pixels of it."""
    beyond = region & ~ndimage.binary_dilation(mark, iterations=2)
    return np.count_nonzero(beyond) >= GROWTH * np.count_nonzero(mark)


def _margin(side: int) -> int:
    """The blank margin the line finder needs beside a strip of a page `side` px long to
    find what it finds on the strip padded to a square: its thin-ink test (squares as wide
    as a line is thick) and its crossing test (closings a little longer than that) reach
    no further across the page's edge."""
    thickness = max(3, round(LINE_THICKNESS * side))
    return 2 * thickness + 16


def _comb_cells(mask: np.ndarray, lines: np.ndarray) -> list[tuple[slice, slice]] | None:
    """The boxes of a comb field (a form's row of printed boxes, one digit each), left to
    right, inside their walls: between two rows holding a straight run `COMB_LINE` of the
    page wide, mostly among the printed `lines`, the columns inked over `COMB_WALL` of the
    rows between them, evenly spaced, the two rows ending with the first and last of them;
    None if the page has none."""
    w = mask.shape[1]
    length = max(8, int(COMB_LINE * w))
    if _longest_run(mask.any(axis=0)) < length:
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
    if len(columns) > 4 * MAX_MARKS:  # a page of vertical strokes: bounded work, no comb
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


def _box_walls(mask: np.ndarray, lines: np.ndarray) -> np.ndarray:
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


def _groups(mask: np.ndarray) -> list[_Group]:
    """The digit-sized groups of components, left to right."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise ImageError("no digit found")
    slices = ndimage.find_objects(labels)
    boxes = np.array([(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in slices],
                     dtype=np.int64)  # top, left, bottom, right
    heights = boxes[:, 2] - boxes[:, 0]
    widths = boxes[:, 3] - boxes[:, 1]
    edge = _at_frame(boxes, mask.shape, EDGE)
    big = heights >= max(5, 0.3 * heights.max())
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
    alive = ~speck & ~rule & (~edge | big)
    if (alive & ~edge).any():
        # A number is often cropped tight: a digit-sized mark at the frame's edge is a digit;
        # a larger one is the table, a finger, the page's edge.
        digit_sized = (heights <= EDGE_HEIGHT * median) & (widths <= EDGE_HEIGHT * median)
        alive &= ~edge | digit_sized
    if np.count_nonzero(alive & (heights >= FRAGMENT_HEIGHT * median)) > MAX_MARKS:
        raise ImageError("too many marks to read as a number")
    members = [[i] for i in np.flatnonzero(alive)]
    if len(members) > 4 * MAX_MARKS:  # digit-sized or not: bounded work
        raise ImageError("too many marks to read as a number")
    members = _join_overlapping(members, boxes, median)
    members = _join_bars(members, boxes, median)
    members = _join_fragments(members, boxes, median)
    groups = []
    for group in members:
        top, left = boxes[group, 0].min(), boxes[group, 1].min()
        bottom, right = boxes[group, 2].max(), boxes[group, 3].max()
        if bottom - top < MINOR_HEIGHT * median:
            continue  # a point, a hyphen, a comma: dropped
        rows, cols = slice(int(top), int(bottom)), slice(int(left), int(right))
        chosen = np.isin(labels[rows, cols], np.asarray(group) + 1)
        groups.append(_Group(chosen, rows, cols))
    if not groups:
        raise ImageError("no digit found")
    if len(groups) > MAX_MARKS:
        raise ImageError("too many marks to read as a number")
    groups.sort(key=lambda g: (g.cols.start + g.cols.stop) / 2)
    return groups


def _cell_groups(mask: np.ndarray, cells: list[tuple[slice, slice]]) -> list[_Group]:
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
        groups.append(_Group(inside, rows, cols))
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
            ta, la, ba, ra = extents[a]
            tb, lb, bb, rb = extents[b]
            overlap = min(ra, rb) - max(la, lb)
            narrower = min(ra - la, rb - lb)
            gap = max(tb - ba, ta - bb, 0)
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
    return np.maximum(0, np.maximum(extents[others, 1] - extents[piece, 3],
                                    extents[piece, 1] - extents[others, 3]))


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
    """A mark too short to be a digit and wider than tall (a stroke across, not a dot),
    beside a digit's upper part (its centre in the top `BAR_BAND` of the digit's height, at
    most `BAR_GAP` median heights away across), is that digit's detached bar (a 5's or a
    7's, lifted with the pen); a hyphen or a point sits lower, between or after the
    digits."""
    extents = _extents(members, boxes)
    heights = extents[:, 2] - extents[:, 0]
    widths = extents[:, 3] - extents[:, 1]
    digits = np.flatnonzero(heights >= FRAGMENT_HEIGHT * median)
    marks = np.flatnonzero((heights < MINOR_HEIGHT * median) & (widths >= BAR_ASPECT * heights))
    owners = {}
    for m in marks if digits.size else ():
        gaps = _gaps(extents, m, digits)
        top, bottom = extents[m, 0], extents[m, 2]
        beside = ((gaps <= BAR_GAP * median)
                  & ((top + bottom) / 2 <= extents[digits, 0] + BAR_BAND * heights[digits])
                  & (bottom >= extents[digits, 0] - BAR_GAP * median))
        if beside.any():
            owners[int(m)] = int(digits[np.flatnonzero(beside)[np.argmin(gaps[beside])]])
    return _attached(members, owners)


# --- cutting touching digits -----------------------------------------------------------------

def _typical_widths(widths: list[int], heights: list[int]) -> list[float]:
    """The width of one digit in each group: the upper quartile of the groups shaped like
    one digit (not a 1, not a wide group: ones are narrow, but no reason to cut), at least
    `TYPICAL_ASPECT` of the median height; or, when fewer than two groups tell it,
    `TYPICAL_ASPECT` of the group's own height (a faint or broken mark beside a row of
    touching digits is short: the median of the marks' heights would be too)."""
    normal = [w for w, h in zip(widths, heights, strict=True) if 0.35 * h <= w <= WIDE_ASPECT * h]
    if len(normal) < 2:
        return [TYPICAL_ASPECT * h for h in heights]
    typical = float(max(np.percentile(normal, 75), TYPICAL_ASPECT * np.median(heights)))
    return [typical] * len(widths)


def _height_fit(ratio: float) -> float:
    """How likely a piece this fraction as tall as its group is a whole digit (log): a cut
    that leaves only part of a stroke is shorter than the digits around it."""
    return -float(np.log(min(max(ratio, 1e-3), 1.0))) ** 2 / (2 * HEIGHT_SPREAD**2)


def _width_fit(ratio: float, label: int) -> float:
    """How likely the digit `label` is this many typical widths wide (log, 0 at its own
    typical width: `ONE_WIDTH` for a 1, 1 for the others): wider is soon unlikely, narrower
    much less so; a 1 may be much narrower or wider than its typical width."""
    if label == 1:  # upright or slanted, with or without its flag: any width near its own
        centre, spread = ONE_WIDTH, NARROWER_SPREAD
    else:
        centre, spread = 1.0, WIDER_SPREAD if ratio > 1.0 else NARROWER_SPREAD
    return -float(np.log(max(ratio, 1e-3) / centre)) ** 2 / (2 * spread**2)


def _candidate_cuts(ink: np.ndarray, typical: float, budget: int, outline: bool = True
                    ) -> tuple[list[int], list[tuple[int, int]]]:
    """Where a wide group may be cut: its ends, the deepest minima of its column
    projection (at most `MAX_CUTS`) and, if `outline`, the valleys of its outline
    (`_contour_valleys`),
    and the spans between two of them wide enough and narrow enough to be one digit (the
    whole group always), at most `budget`."""
    width = ink.shape[1]
    profile = ndimage.uniform_filter1d(ink.sum(axis=0), 3)
    inner = np.arange(2, width - 2)
    if inner.size == 0:
        return [0, width], [(0, 1)]
    left, right = profile[inner - 1], profile[inner + 1]
    minima = inner[(profile[inner] <= left) & (profile[inner] <= right)]
    minima = minima[(minima >= 0.12 * typical) & (minima <= width - 0.12 * typical)]
    expected = width / typical
    keep = min(MAX_CUTS, int(np.ceil(2.5 * expected)) + 2)
    picked: list[int] = []
    for x in minima[np.argsort(profile[minima], kind="stable")]:
        if all(abs(int(x) - p) >= max(2, 0.12 * typical) for p in picked):
            picked.append(int(x))
        if len(picked) == keep:
            break
    for x in _contour_valleys(ink > 0, typical, expected) if outline else ():
        if all(abs(x - p) >= max(2, 0.12 * typical) for p in picked):
            picked.append(x)
    cuts = [0, *sorted(picked), width]
    spans = [(a, b) for a in range(len(cuts)) for b in range(a + 1, len(cuts))
             if MIN_PIECE * typical <= cuts[b] - cuts[a] <= MAX_PIECE * typical]
    spans.sort(key=lambda span: abs(cuts[span[1]] - cuts[span[0]] - typical))
    spans = spans[:max(0, budget - 1)]
    if (0, len(cuts) - 1) not in spans:
        spans.append((0, len(cuts) - 1))
    return cuts, spans


def _contour_valleys(mask: np.ndarray, typical: float, expected: float) -> list[int]:
    """Columns where the group's upper outline dips deepest or its lower outline rises
    highest, as many of each as digits it may hold, away from its ends: where two touching
    digits meet, even where their overlapping strokes leave no minimum in the column
    projection."""
    h, width = mask.shape
    inked = mask.any(axis=0)
    top = np.where(inked, mask.argmax(axis=0), h).astype(np.float64)
    bottom = np.where(inked, h - 1 - mask[::-1].argmax(axis=0), 0).astype(np.float64)
    found: list[int] = []
    for depth in (top, -bottom):  # larger: a deeper valley
        smooth = ndimage.uniform_filter1d(depth, 3)
        inner = np.arange(2, width - 2)
        peaks = inner[(smooth[inner] >= smooth[inner - 1]) & (smooth[inner] >= smooth[inner + 1])
                      & (inner >= 0.3 * typical) & (inner <= width - 0.3 * typical)]
        order = peaks[np.argsort(-smooth[peaks], kind="stable")]
        found += [int(x) for x in order[: int(np.ceil(expected))]]
    return found


def _piece(ink: np.ndarray, group: _Group, left: int, right: int, threshold: float
           ) -> tuple[np.ndarray, Box] | None:
    """The ink of a group's columns [left, right), trimmed to its rows, light on black,
    0-255, strokes evened as the front-end does for one digit (`_even_strokes`), for
    `normalise`; and its box on the analysed page."""
    mask = group.mask[:, left:right]
    if left > 0 or right < group.mask.shape[1]:
        # A cut through touching digits leaves slivers of the neighbour's strokes at the
        # piece's sides: only the piece's main parts are its digit.
        labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
        if count > 1:
            sizes = np.bincount(labels.ravel())[1:]
            keep = np.concatenate(([False], sizes >= SLIVER * sizes.max()))
            mask = keep[labels]
    mask = _dilated(mask)
    crop = ink[group.rows, group.cols][:, left:right] * mask
    rows = np.flatnonzero(crop.max(axis=1) > 0)
    cols = np.flatnonzero(crop.max(axis=0) > 0)
    if rows.size < 2 or cols.size < 1:
        return None
    crop = crop[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    x = group.cols.start + left + int(cols[0])
    y = group.rows.start + int(rows[0])
    evened = _even_strokes(crop, threshold) * np.float32(255.0)
    return evened.astype(np.float32), (x, y, crop.shape[1], crop.shape[0])


def _dilated(mask: np.ndarray) -> np.ndarray:
    """`ndimage.binary_dilation(mask)` (its cross, one step) by four shifted ORs: the same
    pixels without its set-up cost, which dominates on a digit-sized mask."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def predict_number_files(model: DigitModel, items: Sequence[tuple[int, str, bytes]],
                         limits: ImageLimits) -> list[Result]:
    """`core.pipeline.predict_files` in number mode: one number `Result` per item, in order;
    a bad file costs only itself."""
    pages: list[tuple[np.ndarray, float]] = []
    decoded: list[int] = []
    results: list[Result | None] = [None] * len(items)
    for position, (index, filename, data) in enumerate(items):
        try:
            pages.append(decode_page(data, limits))
        except ImageError as exc:
            results[position] = Result.failure(index, filename, str(exc), read="number")
        else:
            decoded.append(position)
    for position, number in zip(decoded, read_numbers(model, pages), strict=True):
        index, filename, _ = items[position]
        if isinstance(number, ImageError):
            results[position] = Result.failure(index, filename, str(number), read="number")
        else:
            results[position] = Result(
                index=index, filename=filename, read="number", text=number.text,
                digits=number.digits, confidence=round(number.confidence, 4),
                box=number.box)
    return results  # type: ignore[return-value]  # every position is filled above
