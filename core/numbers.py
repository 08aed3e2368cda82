"""Reading a number written on one image: segmentation into digits, by recognition.

Its digits are first found as groups of marks, left to right: the ink without printed
lines, a light digit traced whole (`core.number_ink`); the pieces of one digit joined, points
and hyphens dropped; in a form's comb field, one group per printed box (`core.number_marks`).
Then:

1. a group much wider than the others may hold touching or overlapping neighbours: it is
   offered cuts at the minima of its column projection and the valleys of its outline
   (`core.cuts`), and of the candidate cuttings (at most `MAX_CANDIDATES` pieces per
   image) the one whose pieces the classifier reads most confidently, and the whole-digit
   verifier finds whole, wins (segmentation by recognition, `choose`); a comb field's box
   is never cut; a group whose ink goes on in fainter ink is also offered whole in that
   ink (`core.retrace`: a digit written lighter than its neighbours), and the same search
   keeps whichever reads better;
2. every piece is normalised exactly as a single digit is (`core.imaging.normalise`) and
   read in two batched calls for all the pages of a batch: every group whole first, then
   the cuts of the groups whose whole reading some cutting could still beat (`PageCuts`,
   `_beyond_cutting`: the same reading, from fewer pieces);
3. a reading of one or two digits stands only where the single-digit front-end finds a
   digit on the page too (`FEW_DIGITS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from core.capture import (
    TINY_SIDE,
    Box,
    find_digit,
    paper_only,
    read_digit,
    reduce_blocks,
    refuse_non_digit,
    scaled_box,
)
from core.cuts import (
    Group,
    candidate_cuts,
    cut_piece,
    height_fit,
    typical_widths,
    width_fit,
)
from core.imaging import NO_DIGIT, ImageError, ImageLimits, decode_page, normalise
from core.model import DigitModel
from core.number_ink import MarkedPage, analysis_factor, ink_mask
from core.number_marks import cell_groups, mark_groups
from core.number_rows import SEVERAL_ROWS, several_rows
from core.results import DigitRead, Result
from core.retrace import FainterInk

SPLIT_WIDTH = 0.55
"""A group wider than this many times the typical digit width may hold several digits: it
is offered cuts, and reading chooses (a 1 touching its neighbour makes a pair hardly wider
than a wide digit, or narrower than the row's widest digits; a digit read whole keeps its
width, and a group read confidently whole is not cut at all: `_beyond_cutting`)."""
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


class PageCuts:
    """One page's groups of marks cut into candidate pieces in two rounds: on creation every
    group whole (and traced into fainter ink, `core.retrace`), then, by `cut`, a group that
    may hold several digits at its cut points (`core.cuts`). Reading between the rounds
    spares the cuts of a group whose whole reading no cutting could beat
    (`read_numbers`)."""

    def __init__(self, pixels: np.ndarray, scale: float = 1.0, outline_cuts: bool = False
                 ) -> None:
        """Raises `ImageError` for no digit, too many marks or several rows of digits."""
        self.digits: list[np.ndarray] = []
        """uint8 (28, 28) each, every candidate piece so far, in the order made"""
        self.boxes: list[Box] = []
        self.ratios: list[float] = []
        self.shapes: list[float] = []
        self.outline_cuts = outline_cuts
        pixels = np.asarray(pixels)
        if max(pixels.shape[:2]) <= TINY_SIDE:  # an icon or an MNIST image: one digit
            digit, box = read_digit(pixels, scale)
            self.digits, self.boxes, self.ratios, self.shapes = [digit], [box], [1.0], [0.0]
            self.groups: list[Group] = []
            self.budget = 0
            self.cuts, self.pieces, self.aspects = [[0, 1]], [[(0, 1, 0)]], [1.0]
            self.splittable: list[int] = []
            return
        pixels = paper_only(pixels)  # a sheet photographed on a desk: the sheet alone
        factor = analysis_factor(pixels)
        page = reduce_blocks(pixels, factor) if factor > 1 else pixels
        marked = ink_mask(page)
        self.ink, self.threshold, self.cells = marked.ink, marked.threshold, marked.cells
        self.scale = scale * factor
        groups = _groups_on(marked)
        self.groups = groups
        # a comb's box is traced into its faint ink already (`ink_mask`)
        self.fainter = None if self.cells is not None else FainterInk(
            self.ink, marked.printed, marked.noise, groups)
        widths = [g.cols.stop - g.cols.start for g in groups]
        heights = [g.rows.stop - g.rows.start for g in groups]
        self.typical = typical_widths(widths, heights)
        self.aspects = [w / h for w, h in zip(widths, heights, strict=True)]
        self.cuts = [[0, w] for w in widths]
        """per group: its cut points along its width (its ends until it is cut)"""
        self.pieces: list[list[tuple[int, int, int]]] = [[] for _ in groups]
        """per group: its pieces `(from cut point, to cut point, index into digits)`"""
        self.splittable = [] if self.cells is not None else [
            g for g, (width, typical) in enumerate(zip(widths, self.typical, strict=True))
            if width > SPLIT_WIDTH * typical]
        """the groups wider than `SPLIT_WIDTH` typical digits (a comb field's box holds one
        digit): they may hold several"""
        self.budget = MAX_CANDIDATES - len(groups)
        for index, group in enumerate(groups):
            whole = [(group, 0, widths[index], 0, 1)]
            traced = self.fainter.traced(index) if self.fainter and self.budget > 0 else None
            if traced is not None:  # the whole group again, in its own fainter ink
                whole.append((traced, 0, traced.mask.shape[1], 0, 1))
                self.budget -= 1
            self._add(index, whole)

    def cut(self, index: int) -> None:
        """Offer group `index` cut at its candidate cut points (within the page's budget)."""
        if self.budget <= 0:
            return
        group, typical = self.groups[index], self.typical[index]
        local = self.ink[group.rows, group.cols] * group.mask
        cuts, spans = candidate_cuts(local, typical, self.budget, self.outline_cuts)
        self.budget -= len(spans) - 1
        last = len(cuts) - 1
        self.cuts[index] = cuts
        self.pieces[index] = [(0, last, i) for _, _, i in self.pieces[index]]
        self._add(index, [(group, cuts[a], cuts[b], a, b) for a, b in spans
                          if (a, b) != (0, last)])

    def _add(self, index: int, offered: list[tuple[Group, int, int, int, int]]) -> None:
        """Normalise each candidate `(source, left, right, from, to)` of group `index` as a
        single digit is (`core.imaging.normalise`), leaving out what holds no digit."""
        cuts, typical = self.cuts[index], self.typical[index]
        height = self.groups[index].rows.stop - self.groups[index].rows.start
        for source, left, right, start, stop in offered:
            piece = cut_piece(self.ink, source, left, right, self.threshold)
            if piece is None:
                continue
            try:
                self.digits.append(normalise(piece[0]))
            except ImageError:
                continue
            self.boxes.append(scaled_box(piece[1], self.scale))
            self.ratios.append((cuts[stop] - cuts[start]) / typical)
            self.shapes.append(height_fit(piece[1][3] / max(height, source.mask.shape[0])))
            self.pieces[index].append((start, stop, len(self.digits) - 1))

    def segmentation(self) -> Segmentation:
        """The candidates so far; raises `ImageError` when no group left a piece."""
        kept = [g for g, pieces in enumerate(self.pieces) if any(a == 0 for a, _, _ in pieces)]
        if not kept:
            raise ImageError(NO_DIGIT)
        return Segmentation(self.digits, self.boxes, self.ratios, self.shapes,
                            [(len(self.cuts[g]) - 1, self.pieces[g]) for g in kept],
                            [self.aspects[g] for g in kept])


def _groups_on(marked: MarkedPage) -> list[Group]:
    """The groups of marks of a page (`ink_mask`'s): one per inked box of a comb field
    (`cell_groups`), else the groups of its marks (`mark_groups`). Raises `ImageError` for
    several rows of digits, or for a lone mark shaped like no digit (`refuse_non_digit`)."""
    if marked.cells is not None:
        return cell_groups(marked.mask, marked.cells)
    groups = mark_groups(marked.mask, marked.ink)
    # (two marks one above the other are left to `_unless_blank`: on a blank page,
    # specks or shade, no digits in any row)
    if len(groups) > FEW_DIGITS and several_rows(groups):
        raise ImageError(SEVERAL_ROWS)
    if len(groups) == 1:  # a lone mark may be no digit
        lone = groups[0]
        height, width = lone.mask.shape
        refuse_non_digit(lone.mask, (lone.cols.start, lone.rows.start, width, height),
                         marked.mask.shape, several=True)
    return groups


def segment(pixels: np.ndarray, scale: float = 1.0, outline_cuts: bool = False
            ) -> Segmentation:
    """A decoded page (`core.imaging.decode_page`) to all its candidate digit pieces, every
    group wider than `SPLIT_WIDTH` typical digits cut, with cut points at the valleys of
    its outline too when `outline_cuts` (for a model with the whole-digit verifier: more
    candidates help only when something tells a whole digit from a fragment). Raises
    `ImageError` for no digit, too many marks or several rows of digits."""
    page = PageCuts(pixels, scale, outline_cuts)
    for index in page.splittable:
        page.cut(index)
    return page.segmentation()


def read_number(model: DigitModel, pixels: np.ndarray, scale: float = 1.0) -> NumberRead:
    """The number on a decoded page (`read_numbers` of one page); raises the `ImageError`
    saying why there is none."""
    number = read_numbers(model, [(pixels, scale)])[0]
    if isinstance(number, ImageError):
        raise number
    return number


def read_numbers(model: DigitModel, pages: Sequence[tuple[np.ndarray, float]]
                 ) -> list[NumberRead | ImageError]:
    """Each decoded page `(pixels, scale)` to its number, or the `ImageError` saying why
    not: the reading `choose` finds among the page's `candidates`."""
    out: list[NumberRead | ImageError] = []
    for item, (pixels, scale) in zip(candidates(model, pages), pages, strict=True):
        if isinstance(item, ImageError):
            out.append(item)
            continue
        found, read = item
        try:
            number = choose(found, read.labels, read.confidence, read.runner_up, read.whole)[0]
            out.append(_unless_blank(number, pixels, scale))
        except ImageError as exc:
            out.append(exc)
    return out


def candidates(model: DigitModel, pages: Sequence[tuple[np.ndarray, float]]
               ) -> list[tuple[Segmentation, Readings] | ImageError]:
    """Each decoded page's candidate pieces and the classifier's readings of them, or the
    `ImageError` saying why it has none. Every group is read whole first, the pieces of all
    pages in one predict call; then the groups that may hold several digits are cut, unless
    their whole reading already beats any cutting (`_beyond_cutting`: the same reading,
    often half the pieces), and those pieces are read in a second call."""
    cut: list[PageCuts | ImageError] = []
    for pixels, scale in pages:
        try:
            cut.append(PageCuts(pixels, scale, model.wholeness is not None))
        except ImageError as exc:
            cut.append(exc)
    live = [c for c in cut if isinstance(c, PageCuts)]
    made = [len(c.digits) for c in live]  # the pieces of round one, per page
    choices = any(c.splittable or any(len(p) > 1 for p in c.pieces) for c in live)
    first = _predict(model, [d for c in live for d in c.digits], choices).split(made)
    for page, readings in zip(live, first, strict=True):
        for index in page.splittable:
            if not _beyond_cutting(page, index, readings, model.wholeness is not None):
                page.cut(index)
    second = _predict(model, [d for c, n in zip(live, made, strict=True) for d in c.digits[n:]],
                      True).split([len(c.digits) - n for c, n in zip(live, made, strict=True)])
    readings = iter([Readings.join(a, b) for a, b in zip(first, second, strict=True)])
    out: list[tuple[Segmentation, Readings] | ImageError] = []
    for item in cut:
        if isinstance(item, ImageError):
            out.append(item)
            continue
        read = next(readings)
        try:
            out.append((item.segmentation(), read))
        except ImageError as exc:
            out.append(exc)
    return out


def _beyond_cutting(page: PageCuts, index: int, readings: Readings, verified: bool) -> bool:
    """Whether group `index`'s best whole reading scores more than any cutting of it could
    in `choose`: every piece scores at most 0 there, and each piece after the first adds
    `_extra_piece`, so when that is below 0 no path of two or more pieces scores above it;
    where it is not (a group shaped like several digits, with the verifier), always cut."""
    extra = _extra_piece(page.aspects[index], verified)
    if extra >= 0:
        return False
    mine = [i for _, _, i in page.pieces[index]]
    fit = _fit(None if readings.whole is None else readings.whole[mine], len(mine))
    scores = [_piece_score(page.ratios[i], page.shapes[i], int(readings.labels[i]),
                           float(readings.confidence[i]), float(f))
              for i, f in zip(mine, fit, strict=True)]
    return bool(scores) and max(scores) > extra


def _extra_piece(aspect: float, verified: bool) -> float:
    """The log weight of each piece after the first in a group of this width over height:
    `SPLIT_PRIOR`, or `WIDE_PRIOR` in a group shaped like several digits when the model has
    the verifier (`choose`)."""
    return float(np.log(WIDE_PRIOR if verified and aspect >= WIDE_GROUP else SPLIT_PRIOR))


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


@dataclass(frozen=True)
class Readings:
    """The classifier's readings of candidate pieces, one row each."""

    labels: np.ndarray
    confidence: np.ndarray
    runner_up: np.ndarray
    whole: np.ndarray | None
    """P(whole digit) per piece; None: the model has no verifier, or it was not needed"""

    def split(self, sizes: Sequence[int]) -> list[Readings]:
        """Consecutive windows of these sizes."""
        ends = np.cumsum([0, *sizes])
        return [Readings(self.labels[a:b], self.confidence[a:b], self.runner_up[a:b],
                         None if self.whole is None else self.whole[a:b])
                for a, b in pairwise(ends)]

    @staticmethod
    def join(first: Readings, second: Readings) -> Readings:
        """`first`'s rows, then `second`'s."""
        if not len(second.labels):
            return first
        if first.whole is None or second.whole is None:
            whole = None
        else:
            whole = np.concatenate([first.whole, second.whole])
        return Readings(np.concatenate([first.labels, second.labels]),
                        np.concatenate([first.confidence, second.confidence]),
                        np.concatenate([first.runner_up, second.runner_up]), whole)


def _predict(model: DigitModel, digits: Sequence[np.ndarray], verify: bool) -> Readings:
    """The readings of `digits`, with P(whole digit) when `verify` (and the model has the
    verifier): their features computed once for both."""
    if not digits:
        empty = np.zeros(0)
        return Readings(empty.astype(np.int64), empty, empty.astype(np.int64),
                        None if model.wholeness is None else empty)
    features = model.features(np.stack(digits))
    predictions = model.predictor.predict(features)
    return Readings(np.asarray(predictions.labels),
                    np.asarray(predictions.confidence, np.float64),
                    np.asarray(predictions.runner_up),
                    model.whole(features) if verify else None)


def _fit(whole: np.ndarray | None, count: int) -> np.ndarray:
    """The verifier's term of each of `count` pieces' scores (`WHOLE_WEIGHT` times the log
    of its P(whole digit); 0 without it)."""
    return np.zeros(count) if whole is None else WHOLE_WEIGHT * np.log(np.maximum(whole, 1e-6))


def _piece_score(ratio: float, shape: float, label: int, confidence: float, fit: float
                 ) -> float:
    """A piece's score in `choose` (log): its confidence, its wholeness, its height's and
    width's fit to one digit."""
    return float(np.log(max(confidence, 1e-6))) + fit + shape + width_fit(ratio, label)


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
    fit = _fit(whole, len(labels))
    for g, (last, pieces) in enumerate(found.groups):
        penalty = _extra_piece(found.aspects[g] if g < len(found.aspects) else 1.0,
                               whole is not None)
        best = np.full(last + 1, -np.inf)
        best[0] = 0.0
        back: list[tuple[int, int] | None] = [None] * (last + 1)
        for start, stop, index in sorted(pieces):
            if np.isfinite(best[start]):
                score = (best[start] + (penalty if start else 0.0) + _piece_score(
                    found.widths[index], found.shapes[index], int(labels[index]),
                    float(confidence[index]), float(fit[index])))
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


def spells(found: Segmentation, labels: np.ndarray, text: str) -> bool:
    """Whether some reading of `found` spells `text`: one path of pieces per group, left to
    right, each piece read as its label (as `choose` reads a group: from its first cut point
    to its last, or as far as any path goes). Telling a miss of the cut search (the right
    reading was there, another scored more) from a miss of the candidates."""
    spelled = {""}
    for last, pieces in found.groups:
        paths: dict[int, set[str]] = {0: {""}}
        for start, stop, index in sorted(pieces):
            for path in paths.get(start, ()):
                paths.setdefault(stop, set()).add(path + str(int(labels[index])))
        ends = paths.get(last) or paths[max(paths)]
        spelled = {a + b for a in spelled for b in ends if text.startswith(a + b)}
    return text in spelled


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
