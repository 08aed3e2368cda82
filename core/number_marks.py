"""A number's marks grouped into digits, left to right, before any cut.

The ink's connected components (`core.number_ink`), specks and marks at the frame's edge
left out, are grouped by their overlap in x: a detached bar of a 5, the two strokes of a 4,
a broken loop join the digit above or below them; what is much smaller than the median digit
and overlaps none (a decimal point, a hyphen) is dropped (`mark_groups`); in a comb field,
each inked box is one group (`cell_groups`). Cutting the groups and reading them is
`core.numbers`'.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage

from core.capture import EDGE, at_frame, box_gaps, shaded_marks
from core.cuts import SLIVER, Group
from core.imaging import ImageError, component_boxes, stroke_width

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
