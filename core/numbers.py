"""Reading a number written on one image: segmentation into digits, by recognition.

Its digits are first found as groups of marks, left to right (`core.number_marks`: the ink
without printed lines, a light digit traced whole, the pieces of one digit joined, points
and hyphens dropped; in a form's comb field, one group per printed box). Then:

1. a group much wider than the others may hold touching or overlapping neighbours: it is
   offered cuts at the minima of its column projection and the valleys of its outline
   (`core.cuts`), and of the candidate cuttings (at most `MAX_CANDIDATES` pieces per
   image) the one whose pieces the classifier reads most confidently, and the whole-digit
   verifier finds whole, wins (segmentation by recognition, `choose`); a comb field's box
   is never cut; a group whose ink goes on in fainter ink is also offered whole in that
   ink (`core.retrace`: a digit written lighter than its neighbours), and the same search
   keeps whichever reads better;
2. every piece is normalised exactly as a single digit is (`core.imaging.normalise`) and
   all candidates of an image are read in one batched `DigitModel.predict` call;
3. a reading of one or two digits stands only where the single-digit front-end finds a
   digit on the page too (`FEW_DIGITS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.capture import (
    TINY_SIDE,
    Box,
    find_digit,
    read_digit,
    reduce_blocks,
    refuse_non_digit,
    scaled_box,
)
from core.cuts import (
    candidate_cuts,
    cut_piece,
    height_fit,
    typical_widths,
    width_fit,
)
from core.imaging import NO_DIGIT, ImageError, ImageLimits, decode_page, normalise
from core.model import DigitModel
from core.number_marks import analysis_factor, cell_groups, ink_mask, mark_groups
from core.results import DigitRead, Result
from core.retrace import FainterInk

SPLIT_WIDTH = 1.0
"""A group wider than this many times the typical digit width may hold several digits: it
is offered cuts, and reading chooses (a 1 touching its neighbour makes a pair hardly wider
than a wide digit; a wide digit read whole keeps its width)."""
FEW_DIGITS = 2
"""A number read with at most this many digits is kept only where the single-digit
front-end (`core.capture.find_digit`) finds a digit on the page too: its refusals of
printed structure and shade (lines found at its own scale, an empty box's outline, the
page's edge in shadow: `refuse_non_digit`) are stricter than the grouping of marks here,
which reads a blank form's box walls as "11" or "7" and a shadow's edge as "1". On a page of
one or two digits it finds one (or several); a longer number it may find too wide for a
digit, so it is not asked."""
MAX_CANDIDATES = 160
"""Pieces read per image to choose the cuts, at most (bounded work per image)."""
WHOLE_WEIGHT = 0.3
"""The verifier's P(whole digit) counts as its log times this in the cut search: trained on
MNIST's own hand, it doubts other writers' whole digits (under 0.5 for 18% of the right
digits of seed 7's tight numbers) and any lone stroke, a 1 cut from its neighbour included;
at full weight, or at half, it kept such digits joined to their neighbours."""
SPLIT_PRIOR = 0.5
"""Each extra piece of a cutting weighs as a digit read with this confidence: a wide digit
(a 0, a 4) is not cut into two narrow ones read a little more confidently..."""
WIDE_GROUP, WIDE_PRIOR = 1.3, 1.4
"""...but in a group at least `WIDE_GROUP` times as wide as tall, more likely two digits
touching than one (a digit is 0.7 times as wide as tall, a 1 beside it adds 0.3), each extra
piece weighs `WIDE_PRIOR`: the pieces need not read better than the whole to be chosen.
Only with the whole-digit verifier: without it, nothing weighs against a favoured cut
through a digit (the tests' small model read a 0 as three confident 1s)."""


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
class Segmentation:
    """An image cut into candidate pieces. Each group (left to right) has cut points
    `0..n` along its width; a candidate piece spans two of them (the whole span may have
    two: the group's ink, and that ink traced into fainter ink, `core.retrace`); a reading
    of the group is a path of pieces from its first cut point to its last."""

    digits: list[np.ndarray]
    """uint8 (28, 28) each, every candidate piece of every group"""
    boxes: list[Box]
    widths: list[float]
    """per piece: its width in typical digit widths (`width_fit` weighs it once read)"""
    shapes: list[float]
    """per piece: the log-likelihood of its height for one digit (`height_fit`)"""
    groups: list[tuple[int, list[tuple[int, int, int]]]]
    """per group: its last cut point and its pieces `(from, to, index into digits)`"""
    aspects: list[float] = field(default_factory=list)
    """per group: its width over its height (a group without one is read as one digit wide)"""


def segment(pixels: np.ndarray, scale: float = 1.0, outline_cuts: bool = False
            ) -> Segmentation:
    """A decoded page (`core.imaging.decode_page`) to its candidate digit pieces, with cut
    points at the valleys of a wide group's outline too when `outline_cuts` (for a model
    with the whole-digit verifier: more candidates help only when something tells a whole
    digit from a fragment). Raises `ImageError` for no digit or too many marks."""
    pixels = np.asarray(pixels)
    if max(pixels.shape[:2]) <= TINY_SIDE:  # an icon or an MNIST image: one digit
        digit, box = read_digit(pixels, scale)
        return Segmentation([digit], [box], [1.0], [0.0], [(1, [(0, 1, 0)])], [1.0])
    factor = analysis_factor(pixels)
    page = reduce_blocks(pixels, factor) if factor > 1 else pixels
    marked = ink_mask(page)
    ink, mask, threshold, cells = marked.ink, marked.mask, marked.threshold, marked.cells
    groups = mark_groups(mask, ink) if cells is None else cell_groups(mask, cells)
    if len(groups) == 1 and cells is None:  # a lone mark may be no digit (`refuse_non_digit`)
        lone = groups[0]
        height, width = lone.mask.shape
        refuse_non_digit(lone.mask, (lone.cols.start, lone.rows.start, width, height),
                         mask.shape, several=True)
    # a comb's box is traced into its faint ink already (`ink_mask`)
    fainter = None if cells is not None else FainterInk(ink, marked.printed, marked.noise,
                                                         groups)
    digits: list[np.ndarray] = []
    boxes: list[Box] = []
    ratios: list[float] = []
    shapes: list[float] = []
    found: list[tuple[int, list[tuple[int, int, int]]]] = []
    aspects: list[float] = []
    widths = [g.cols.stop - g.cols.start for g in groups]
    heights = [g.rows.stop - g.rows.start for g in groups]
    budget = MAX_CANDIDATES - len(groups)
    for index, (group, width, typical) in enumerate(
            zip(groups, widths, typical_widths(widths, heights), strict=True)):
        cuts, spans = [0, width], [(0, 1)]
        if cells is None and width > SPLIT_WIDTH * typical and budget > 0:  # a box: one digit
            local = ink[group.rows, group.cols] * group.mask
            cuts, spans = candidate_cuts(local, typical, budget, outline_cuts)
            budget -= len(spans) - 1
        height = group.rows.stop - group.rows.start
        candidates = [(group, cuts[start], cuts[stop], start, stop) for start, stop in spans]
        traced = fainter.traced(index) if fainter is not None and budget > 0 else None
        if traced is not None:  # the whole group again, in its own fainter ink
            candidates.append((traced, 0, traced.mask.shape[1], 0, len(cuts) - 1))
            budget -= 1
        pieces = []
        for source, left, right, start, stop in candidates:
            piece = cut_piece(ink, source, left, right, threshold)
            if piece is None:
                continue
            try:
                digits.append(normalise(piece[0]))
            except ImageError:
                continue
            boxes.append(scaled_box(piece[1], scale * factor))
            ratios.append((cuts[stop] - cuts[start]) / typical)
            shapes.append(height_fit(piece[1][3] / max(height, source.mask.shape[0])))
            pieces.append((start, stop, len(digits) - 1))
        if any(a == 0 for a, _, _ in pieces):
            found.append((len(cuts) - 1, pieces))
            aspects.append(width / height)
    if not found:
        raise ImageError(NO_DIGIT)
    return Segmentation(digits, boxes, ratios, shapes, found, aspects)


def read_number(model: DigitModel, pixels: np.ndarray, scale: float = 1.0) -> NumberRead:
    """The number on a decoded page, read by one batched predict call; raises the
    `ImageError` saying why there is none."""
    number = read_numbers(model, [(pixels, scale)])[0]
    if isinstance(number, ImageError):
        raise number
    return number


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
    for item, (pixels, scale) in zip(found, pages, strict=True):
        if isinstance(item, ImageError):
            out.append(item)
            continue
        n = len(item.digits)
        window = slice(offset, offset + n)
        number = choose(item, labels[window], confidence[window], runner_up[window],
                        None if whole is None else whole[window])[0]
        offset += n
        try:
            out.append(_unless_blank(number, pixels, scale))
        except ImageError as exc:
            out.append(exc)
    return out


def _unless_blank(number: NumberRead, pixels: np.ndarray, scale: float) -> NumberRead:
    """`number`, unless it has at most `FEW_DIGITS` digits and the single-digit front-end
    finds no digit on its page: then "no digit found" is raised (an MNIST-sized image is
    read as one digit anyway)."""
    if len(number.digits) <= FEW_DIGITS and max(np.shape(pixels)[:2]) > TINY_SIDE:
        try:
            find_digit(pixels, scale)
        except ImageError as exc:
            if str(exc) == NO_DIGIT:
                raise
    return number


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
    by `SPLIT_PRIOR`, or `WIDE_PRIOR` in a group shaped like several digits: a Viterbi
    search over the cut points); and the pieces chosen. The digits keep the classifier's
    own confidences."""
    chosen: list[int] = []
    fit = (np.zeros(len(labels)) if whole is None
           else WHOLE_WEIGHT * np.log(np.maximum(whole, 1e-6)))
    for g, (last, pieces) in enumerate(found.groups):
        wide = whole is not None and g < len(found.aspects) and found.aspects[g] >= WIDE_GROUP
        penalty = float(np.log(WIDE_PRIOR if wide else SPLIT_PRIOR))
        best = np.full(last + 1, -np.inf)
        best[0] = 0.0
        back: list[tuple[int, int] | None] = [None] * (last + 1)
        for start, stop, index in sorted(pieces):
            if np.isfinite(best[start]):
                score = (best[start] + float(np.log(max(confidence[index], 1e-6)))
                         + float(fit[index]) + found.shapes[index]
                         + width_fit(found.widths[index], int(labels[index]))
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
