"""Step 3 of the capture front-end: the digit among the ink's connected components: specks,
marks at the frame, shading and what is left of printed lines dropped, the pieces of a
broken stroke joined, another digit beside it refused."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse.csgraph import connected_components

from core import extremes
from core.capture.ink import MIN_INK
from core.capture.lines import (
    LINE_FRACTION,
    LINE_THICKNESS,
    MIN_LINE_SIDE,
    near_lines,
    pixels_of,
)
from core.imaging import ImageError, component_boxes, component_peaks, extent

EDGE = 2
"""Components within this many pixels of the frame touch it (a finger, the table, the
page's own edge); on scans smaller than `MIN_LINE_SIDE`, where the digit nearly fills the
frame and 2 px are a twentieth of it, only those reaching the frame's outermost pixels."""
FRAME_SPAN = 0.9
"""...and so do components spanning this fraction of its height or width."""
SPECK_FRACTION = 0.05
"""Components with less ink than this fraction of the largest one are specks."""
MIN_DIGIT = 0.03
"""A digit is at least this fraction of the page's longest side tall or wide..."""
MIN_DIGIT_PX = 5
"""...and at least this many pixels (on any page)."""
JOIN_GAP = 0.3
"""Pieces closer than this fraction of the digit's size to it are part of it (a faint
stroke that fell below the ink level leaves a gap about this wide between its neighbours)..."""
JOIN_CONTRAST = 0.5
"""...and their darkest ink at least this fraction of its typical (median) ink: a pencil
pressed hard at one spot makes the darkest ink no measure of the rest of the digit."""
RULE_ASPECT = 8.0
"""A component at least this many times as long as it is thick (pixels over length) is a
piece of a printed line..."""
REMNANT_SHARE = 0.5
"""...and one as long as a printed line, or a dash of one (its box that thin too), with this
share of its pixels within 2 px of the printed lines found is what the line finder left of
them (the dark core of a box's wall, a doubled border, its dashes between the pieces of it
found): never the digit, nor a piece of it."""
CLUSTER_PIECES = 256
"""Marks weighed when the digit's cluster is looked for (those with most ink; the rest of a
noisy page's grain changes nothing)."""
FRAGMENT = 0.5
"""A digit whose main piece spans less than this fraction of its cluster is in pieces: they
join it within `JOIN_GAP` of the cluster's size, not of that piece's."""
SEPARATE_DIGIT = 0.6
"""A cluster beside the digit at least this fraction of its height (and about as inked) is
another digit."""
SHADING_EDGE = 4.0
"""At the edge of a mark, the ink rises to the ink level within this many pixels (a pen's
edge, blurred by the lens and the 3x3 smoothing, rises in 1-3); light varies more slowly..."""
BAND_SHARE = 0.7
"""A mark touching the frame with at least this share of its pixels within `BAND_RISE` ink
levels of its median ink, and wider there than a printed line, is a band of shading (a
shadow's edge, the table under the page's edge); a digit's ink spreads from its strokes'
faint edges to their dark middles, and only a fraction of it is that close to its median..."""
BAND_RISE = 0.5
"""...(in units of the ink level): what stands that far above the band's median ink in it is
written on it."""
SHADING_SOFT = 1 / 3
"""...so a component with at least this fraction of its edge softer than that is shading
(a shadow's band between a page's edge and a brighter surround): it joins no digit and is
no second digit."""
DIGIT_SOFT = 1 / 4
"""The digit found is shading, no digit, when at least this fraction of its edge is that
soft twice as far out (the ink rises by less than half the ink level over 4 px): the foot of
a marker's edge blurred by the lens is shallow over 2 px, as shading is, but it steepens
within a few pixels; light does not (docs/capture.md, "7 December 2026: a shadow's
blob")..."""
NEUTRAL = 0.3
"""...and its colour is the paper's, darker: it absorbs each colour channel alike, to within
this fraction of the most absorbed one or within what counts as ink (`MIN_INK`). Shading
darkens every colour alike; a coloured marker's digit, however blurred and pale, absorbs
its own colours (a red marker: the green and the blue five times as much as the red)."""


def digit_components(mask: np.ndarray, ink: np.ndarray, strong: float = 0.0,
                     lines: np.ndarray | None = None, colour: np.ndarray | None = None
                     ) -> np.ndarray:
    """The digit's pixels in an ink mask: its main cluster of components, specks and marks
    touching the frame left out; only components reaching `strong` ink count; thin straight
    pieces lying along the printed `lines` taken out of the mask are what is left of them.
    Raises `ImageError` for no digit (or only shading: `DIGIT_SOFT`, and `NEUTRAL` when the
    page's `colour` pixels are given) or several. When nothing but a band of shading
    reaching the frame is left, the digit is looked for again without the band's faint ink:
    a digit written across a shadow's edge is one component with the shadow."""
    kept, band, level = _digit_cluster(mask, ink, strong, lines)
    if band is not None:
        kept = _without_band(kept, mask & ~band, ink, strong, lines)
    # On a blank page in shadow, a blob or a band of the shadow in the middle of the page
    # may be all that is left: shading is no digit. Asked of the digit chosen, after the
    # band is taken out: before, a digit written across a shadow's edge is shading too.
    if _only_shading(kept, mask, ink, level, colour):
        raise ImageError("no digit found")
    return kept


def _only_shading(kept: np.ndarray, mask: np.ndarray, ink: np.ndarray, level: float,
                  colour: np.ndarray | None) -> bool:
    """Whether the digit's pixels `kept` are shading (`DIGIT_SOFT`; `NEUTRAL` on a page in
    `colour`), measured on a window around them (`level`: the whole `mask`'s ink level)."""
    rows, cols = extent(kept)
    margin = 3  # the test's reach (2 px) and the edge's own pixel
    window = (slice(max(rows.start - margin, 0), rows.stop + margin),
              slice(max(cols.start - margin, 0), cols.stop + margin))
    soft = shaded_marks(kept[window].view(np.uint8), 1, mask[window], ink[window],
                        np.ones(1, dtype=bool), reach=2, share=DIGIT_SOFT, level=level)[0]
    return bool(soft) and (colour is None or _neutral(kept[window], mask[window],
                                                      ink[window], colour[window]))


def _neutral(kept: np.ndarray, mask: np.ndarray, ink: np.ndarray, colour: np.ndarray
             ) -> bool:
    """Whether the digit's darkest half (`kept`, in a window of the page's `colour`
    pixels) absorbs every channel alike against the paper beside it in the window (the
    window's pixels out of the ink `mask`): `NEUTRAL`, `MIN_INK`. No paper in the window,
    or no light absorbed (a light mark on a dark ground): nothing says it is not shading."""
    paper = colour[~mask]
    if paper.size == 0:
        return True
    darkest = kept & (ink >= np.median(ink[kept]))
    absorbed = 1.0 - colour[darkest].mean(axis=0) / np.maximum(np.median(paper, axis=0), 1.0)
    most, hue = float(absorbed.max()), float(absorbed.max() - absorbed.min())
    return most <= 0.0 or hue < max(NEUTRAL * most, MIN_INK)


def _without_band(kept: np.ndarray, rest: np.ndarray, ink: np.ndarray, strong: float,
                  lines: np.ndarray | None) -> np.ndarray:
    """The digit looked for again in `rest`, the mask without a shadow's band at the frame;
    `kept` (found with the band) when there is none there, or it reaches the frame too."""
    try:
        inside, _, _ = _digit_cluster(rest, ink, strong, lines)
    except ImageError:
        return kept
    rows, cols = extent(inside)
    box = np.array([[rows.start, cols.start, rows.stop, cols.stop]])
    return kept if at_frame(box, rest.shape, EDGE)[0] else inside


@dataclass(frozen=True)
class _Marks:
    """The 8-connected components of an ink mask (component `i` labelled `i + 1`), one value
    of each per component, and the mask's ink level."""

    labels: np.ndarray
    count: int
    boxes: np.ndarray
    """(count, 4): top, left, bottom, right."""
    pixels: np.ndarray
    mass: np.ndarray
    """Its ink, summed."""
    contrast: np.ndarray
    """Its ink above the ink level (`strong`), summed: a stroke stands well above the level,
    a band of shaded paper (large, wider than the paper window) barely reaches it."""
    weak: np.ndarray
    """No pixel of it reaches the ink level."""
    level: float
    """The faintest ink in the mask: the level the shading tests measure a rise against."""

    @property
    def heights(self) -> np.ndarray:
        return self.boxes[:, 2] - self.boxes[:, 0]

    @property
    def widths(self) -> np.ndarray:
        return self.boxes[:, 3] - self.boxes[:, 1]

    @property
    def length(self) -> np.ndarray:
        return np.maximum(self.heights, self.widths)


def _marks(mask: np.ndarray, ink: np.ndarray, strong: float) -> _Marks:
    """The components of `mask` measured (`_Marks`); raises `ImageError` when there are
    none, or none reaches `strong` ink."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise ImageError("no digit found")
    above = ink >= strong
    strong_labels = labels[above]
    weak = np.bincount(strong_labels, minlength=count + 1)[1:] == 0
    if weak.all():
        raise ImageError("no digit found")
    return _Marks(
        labels=labels, count=count,
        boxes=component_boxes(labels),
        pixels=np.bincount(labels.ravel(), minlength=count + 1)[1:],
        mass=ndimage.sum_labels(ink, labels, index=np.arange(1, count + 1)),
        contrast=np.bincount(strong_labels, weights=ink[above] - strong,
                             minlength=count + 1)[1:],
        weak=weak, level=float(ink[mask].min()))


def _digit_cluster(mask: np.ndarray, ink: np.ndarray, strong: float,
                   lines: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray | None, float]:
    """`digit_components` in one pass: the digit's pixels, the faint ink of a band of
    shading when the digit chosen is one that reaches the frame (`_faint_band`), else None,
    and the mask's ink level."""
    marks = _marks(mask, ink, strong)
    h, w = mask.shape
    near = EDGE if max(h, w) >= MIN_LINE_SIDE else 0  # a small scan's digit nearly fills it
    edge = _at_the_frame(marks, mask, ink, near)
    candidate = _not_specks(marks, edge)
    rule, remnant, dash = _line_remnants(marks, lines)
    if lines is not None:  # a sliver of a line: no mark, no digit's piece
        sliver = remnant & (marks.length >= LINE_FRACTION * min(h, w))
        candidate &= ~_along_lines(marks, sliver, lines)
    # what the line finder left of a line across the page is never the digit when a mark is
    mark = candidate & ~marks.weak & ~(rule & (marks.widths >= marks.heights))
    # A faint digit is often in pieces (pencil grain, grid lines taken out of its strokes):
    # the digit is the cluster of marks with most ink above the level, and its main piece
    # the cluster's piece with most.
    pool = mark if mark.any() else candidate & ~marks.weak
    # A printed line taken out of a stroke leaves a gap no wider than the line.
    cluster, span = _cluster(marks.boxes, pool, marks.contrast,
                             max(3.0, LINE_THICKNESS * max(h, w)))
    main = int(np.argmax(np.where(cluster, marks.contrast, -1.0)))
    own = marks.labels == main + 1
    typical = float(np.median(ink[own]))
    band = _faint_band(own, ink, typical, strong, max(h, w)) if near and edge[main] else None
    shading = shaded_marks(marks.labels, marks.count, mask, ink, candidate, level=marks.level)
    # A piece of the digit was written with the same pen: it is about as dark. Shading
    # next to the digit is not.
    darkest = component_peaks(marks.labels, marks.count, ink)
    joinable = candidate & ~shading & (darkest[1:] >= JOIN_CONTRAST * typical)
    members, box = _joined(marks, main, joinable, remnant, dash, span, lines)
    height, width = box[2] - box[0], box[3] - box[1]
    if smaller_than_a_digit(height, width, (h, w)) or (
            lines is not None and _only_dashes(marks, members, dash, lines)):
        raise ImageError("no digit found")
    longer_rule = rule & (marks.length > max(height, width))  # than the whole digit
    _refuse_other_digits(marks.boxes, marks.mass,
                         candidate & ~members & ~longer_rule & ~shading, box,
                         float(marks.mass[members].sum()))
    keep = np.zeros(marks.count + 1, dtype=bool)
    keep[1:] = members
    return keep[marks.labels], band, marks.level


def _at_the_frame(marks: _Marks, mask: np.ndarray, ink: np.ndarray, near: int) -> np.ndarray:
    """Per component, whether it is at the frame: within `near` px of it (a finger, the
    table, the page's own edge) or spanning it (a page's edge, a shadow's, the table: no
    digit is `FRAME_SPAN` of it). A digit the frame cuts (a tight crop) is still the digit
    when all inside the frame is specks beside it, and it is no shading."""
    h, w = mask.shape
    spanning = (marks.heights >= FRAME_SPAN * h) | (marks.widths >= FRAME_SPAN * w)
    edge = at_frame(marks.boxes, (h, w), near) | spanning
    cut = (edge & ~spanning & ~marks.weak
           & (SPECK_FRACTION * marks.mass >= marks.mass[~edge & ~marks.weak].max(initial=0.0)))
    if cut.any():
        edge &= ~(cut & ~shaded_marks(marks.labels, marks.count, mask, ink, cut,
                                      level=marks.level))
    return edge


def _not_specks(marks: _Marks, edge: np.ndarray) -> np.ndarray:
    """Per component, whether it is more than a speck (`SPECK_FRACTION`) against the largest
    mark *inside* the frame (a dark corner or the table at the `edge` must not turn the
    digit itself into a speck), and inside the frame when any such mark is."""
    inside = ~edge & ~marks.weak
    candidate = marks.mass >= SPECK_FRACTION * marks.mass[inside if inside.any()
                                                          else ~marks.weak].max()
    if (candidate & inside).any():
        candidate &= ~edge
    return candidate


def _line_remnants(marks: _Marks, lines: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per component: whether it is a thin straight piece (`RULE_ASPECT`), whether such a
    piece may be what the line finder left of a printed line (a doubled box border, a side
    that a stroke touched), and whether it is a dash of one (its box as thin as a rule).
    On a page where the finder found no line (`lines` given, empty) nothing is left of one:
    a fine pen's long stroke (a 6's back, a 2's base) is no remnant however long it is."""
    length = marks.length
    rule = length >= RULE_ASPECT * marks.pixels / length
    remnant = rule if lines is None or lines.any() else np.zeros_like(rule)
    return rule, remnant, remnant & box_as_thin_as_a_rule(marks.heights, marks.widths)


def _joined(marks: _Marks, main: int, joinable: np.ndarray, remnant: np.ndarray,
            dash: np.ndarray, span: int, lines: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray]:
    """The components of the digit (bool (count,)) and its box: the `main` piece and the
    `joinable` pieces near it (a 5's detached bar, a broken loop), twice over. A remnant
    of a line longer than the digit found so far never joins it (a thin pen's long arc is
    as thin: it joins once the rest of its loop has), nor does a dash along the lines."""
    members = np.zeros(marks.count, dtype=bool)
    members[main] = True
    box = marks.boxes[main].copy()
    size = max(box[2] - box[0], box[3] - box[1])
    gap = JOIN_GAP * (span if size < FRAGMENT * span else size)  # at the digit's scale
    for _ in range(2):
        vgap, hgap = box_gaps(box, marks.boxes)
        longer = remnant & (marks.length > max(box[2] - box[0], box[3] - box[1], span))
        near = joinable & ~members & ~longer & (vgap <= gap) & (hgap <= gap)
        if lines is not None:  # each dash is looked at once
            joinable &= ~_along_lines(marks, near & dash, lines)
            near &= joinable
        if not near.any():
            break
        members |= near
        chosen = marks.boxes[members]
        box = np.array([chosen[:, 0].min(), chosen[:, 1].min(), chosen[:, 2].max(),
                        chosen[:, 3].max()])
    return members, box


def box_as_thin_as_a_rule(heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Which boxes are at least `RULE_ASPECT` times as long as they are thick: the shape of
    a dash of a printed line (a stretch of it the line finder left), whatever its pixels."""
    return RULE_ASPECT * np.minimum(heights, widths) <= np.maximum(heights, widths)


def smallest_digit(page: tuple[int, int]) -> float:
    """How long, in px, the smallest digit on a page of shape `page` can be: `MIN_DIGIT` of
    its longest side, and `MIN_DIGIT_PX`."""
    return max(MIN_DIGIT_PX, MIN_DIGIT * max(page))


def smaller_than_a_digit(height: int, width: int, page: tuple[int, int]) -> bool:
    """Whether a mark `height` x `width` px on a page of shape `page` is smaller than any
    digit can be (`smallest_digit`)."""
    return max(height, width) < smallest_digit(page)


def _only_dashes(marks: _Marks, members: np.ndarray, dash: np.ndarray,
                 lines: np.ndarray) -> bool:
    """Whether the digit found, its components `members`, is nothing but `dash`es (as thin
    as a rule) along the printed `lines`: what the line finder left of an empty box's wall
    beside the wall it found, on a page with nothing written (a number's page is checked
    so by `number_ink._only_remnants`)."""
    return bool(dash[members].all()) and bool(_along_lines(marks, members, lines)[members].all())


def _along_lines(marks: _Marks, which: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Of the components in `which` (bool (count,)), those with `REMNANT_SHARE` of their
    pixels within 2 px of the printed `lines` (each looked at in its own box: few are)."""
    along = np.zeros_like(which)
    for i in np.flatnonzero(which):
        top, left, bottom, right = marks.boxes[i]
        window = (slice(max(0, top - 2), bottom + 2), slice(max(0, left - 2), right + 2))
        beside = (marks.labels[window] == i + 1) & near_lines(lines[window])
        along[i] = np.count_nonzero(beside) >= REMNANT_SHARE * marks.pixels[i]
    return along


def _cluster(boxes: np.ndarray, pool: np.ndarray, contrast: np.ndarray,
             reach: float) -> tuple[np.ndarray, int]:
    """Of the components in `pool` (bool (count,)), those of the cluster with most
    `contrast`, components whose boxes come within `reach` px of each other being one
    cluster (of the `CLUSTER_PIECES` with most); and the cluster's longer side (its span)."""
    which = np.flatnonzero(pool)
    if which.size <= 1:  # most pages: one mark, its own cluster
        top, left, bottom, right = boxes[which[0]] if which.size else (0, 0, 0, 0)
        return pool, int(max(bottom - top, right - left))
    which = which[np.argsort(-contrast[which], kind="stable")[:CLUSTER_PIECES]]
    b = boxes[which]
    vgap, hgap = box_gaps(b[:, None], b[None, :])
    # Pieces linked through others are one cluster (numbered in order of their first piece).
    _, owner = connected_components((vgap <= reach) & (hgap <= reach), directed=False)
    best = int(np.argmax(np.bincount(owner, weights=contrast[which])))
    cluster = np.zeros_like(pool)
    cluster[which[owner == best]] = True
    chosen = boxes[cluster]
    span = max(chosen[:, 2].max() - chosen[:, 0].min(), chosen[:, 3].max() - chosen[:, 1].min())
    return cluster, int(span)


def box_gaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertical and horizontal gaps between boxes `a` and `b` (top, left, bottom, right
    along the last axis; broadcast against each other), 0 where they overlap that way."""
    vgap = np.maximum(0, np.maximum(b[..., 0] - a[..., 2], a[..., 0] - b[..., 2]))
    hgap = np.maximum(0, np.maximum(b[..., 1] - a[..., 3], a[..., 1] - b[..., 3]))
    return vgap, hgap


def at_frame(boxes: np.ndarray, shape: tuple[int, int], near: int) -> np.ndarray:
    """Per box (top, left, bottom, right: (n, 4)), whether it comes within `near` pixels
    of the frame."""
    h, w = shape
    return ((boxes[:, 0] <= near) | (boxes[:, 1] <= near) | (boxes[:, 2] >= h - near)
            | (boxes[:, 3] >= w - near))


def _faint_band(own: np.ndarray, ink: np.ndarray, median: float, strong: float,
                side: int) -> np.ndarray | None:
    """The faint ink of a mark (`own`: its pixels; `median`: their median ink) when it is
    a band of shading (`BAND_SHARE`), else None."""
    low = own & (ink < median + BAND_RISE * strong)
    if np.count_nonzero(low) < BAND_SHARE * np.count_nonzero(own):
        return None
    wide = extremes.minimum_filter(low.view(np.uint8), max(3, round(LINE_THICKNESS * side)))
    return low if wide.any() else None


def shaded_marks(labels: np.ndarray, count: int, mask: np.ndarray, ink: np.ndarray,
                 which: np.ndarray, reach: int = 1, share: float = SHADING_SOFT,
                 level: float | None = None) -> np.ndarray:
    """Per component (bool (count,); measured only for those in `which`, the others
    False): whether it is shading, not a mark: at `share` of its edge pixels or more, the
    ink rises by less than the mask's level over `reach` times `SHADING_EDGE` pixels (the
    spread of the ink among the pixels `reach` apart around them, over `2 * reach` px;
    `level`: the mask's, when `mask` is a window of it). Illumination varies smoothly; a
    pen's stroke has a sharp edge on every side, however faint or wide it is."""
    measured = np.concatenate(([False], which))[labels]
    edges = measured & ~ndimage.binary_erosion(mask, structure=np.ones((3, 3), dtype=bool),
                                               border_value=1)
    ys, xs = pixels_of(edges)
    if ys.size == 0:
        return np.zeros(count, dtype=bool)
    level = float(ink[mask].min()) if level is None else level
    padded = np.pad(ink, reach, mode="edge")
    steps = range(0, 2 * reach + 1, reach)
    around = np.stack([padded[ys + dy, xs + dx] for dy in steps for dx in steps])
    rise = around.max(axis=0) - around.min(axis=0)
    soft = rise < 2.0 * level / SHADING_EDGE
    owner = labels[ys, xs]
    total = np.bincount(owner, minlength=count + 1)[1:]
    softer = np.bincount(owner, weights=soft, minlength=count + 1)[1:]
    return softer >= share * np.maximum(total, 1)


def _refuse_other_digits(boxes: np.ndarray, mass: np.ndarray, others: np.ndarray,
                         box: np.ndarray, digit_mass: float) -> None:
    """Another cluster of ink about as tall and as inked as the digit, beside it."""
    height = box[2] - box[0]
    tall = (boxes[:, 2] - boxes[:, 0]) >= SEPARATE_DIGIT * height
    overlap = np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0])
    beside = overlap >= 0.5 * height
    inked = mass >= 0.3 * digit_mass
    heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    not_taller = heights <= 1.0 / SEPARATE_DIGIT * height
    not_a_rule = widths >= 0.06 * heights  # what is left of a printed line is no digit
    if (others & tall & beside & inked & not_taller & not_a_rule).any():
        raise ImageError("several digits found: read it as a number")
