"""Printed boxes around digits: a form's comb field (a row of boxes, one digit each) and
the walls of boxes that the line finder left.

A comb field is found from the printed lines and the inked columns between them; each of
its boxes is then read as one digit (`core.numbers`). A field of one or two boxes (a form's
day or month, a lone box), or one too small for the line finder, is found from its outline
alone (`box_cells`). Elsewhere, what is left of a box's walls is thin vertical runs that
meet a printed line at both ends, removed before the digits are grouped.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from core import extremes
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
WALL_ENDS = 0.1
"""...and inked over half of the rows this fraction of the way next to each line
(`_joining`)..."""
COMB_REGULARITY = 0.25
"""...spaced evenly (each within this fraction of the spacing of where it would be), at
least 3 of them."""
MAX_COLUMNS = 128
"""More inked columns than this: a page of vertical strokes, no comb (bounded work)."""
BOX_SIDE = 0.9
"""A field found from its outline is a mark inked along this fraction of each of its four
sides (a digit's loop, even a boxy 0, is not: its corners are round)..."""
BOX_BAND = 0.1
"""...within this fraction of the mark's height or width of the side..."""
MIN_BOX = 16
"""...at least this many pixels each way..."""
BOX_ASPECT = (0.4, 1.3)
"""...whose walls divide it into boxes this many times as wide as tall (one digit each: a box
drawn around a whole number is no field)..."""
BESIDE = 0.5
"""...with no mark outside it this fraction of its height or taller (a number written
beside a printed box is not in it)."""
TICK_WIDTH, TICK_HEIGHT, TICK_TALL, MIN_TICKS = 0.5, 1.3, 0.8, 3
"""A field printed as a line with ticks (`tick_cells`): its ticks are at most `TICK_WIDTH` as
wide as tall, as tall as one another within `TICK_HEIGHT` and at most `TICK_TALL` of their
spacing (1s standing on an underline are taller), at least `MIN_TICKS` of them..."""
TICK_ROOM, MIN_PLACE = 1.6, 3
"""...a place reaches `TICK_ROOM` spacings above the line, at least `MIN_PLACE` px wide..."""
ACROSS_PAGE = 0.95
"""...and the line crosses less than this fraction of the page (ruled paper's lines cross it:
the digits standing on them are no ticks)."""
ROW_HEIGHT, ROW_OVERLAP = 1.2, 0.8
"""Fields printed apart are one row of boxes when as tall as one another within this factor
and overlapping over this fraction of the rows of the shorter (`_in_a_row`)."""


def comb_cells(mask: np.ndarray, lines: np.ndarray) -> list[tuple[slice, slice]] | None:
    """The boxes of a comb field (a form's row of printed boxes, one digit each), left to
    right, inside their walls: between two rows holding a straight run `COMB_LINE` of the
    page wide, mostly among the printed `lines`, the columns inked over `COMB_WALL` of the
    rows between them and next to both rows (`_joining`), evenly spaced, the two rows
    ending with the first and last of them and the columns ending at the two rows
    (`_walls_go_on`: squared paper is no comb); None if the page has none."""
    w = mask.shape[1]
    length = max(8, int(COMB_LINE * w))
    if longest_run(mask.any(axis=0)) < length:
        return None  # no row holds a straight run that long: inked columns that far apart
    band = extremes.maximum_filter1d(mask.view(np.uint8), 3, axis=0)  # a slight tilt
    eroded = extremes.minimum_filter1d(band, length, axis=1, mode="constant", cval=0)
    rows = np.flatnonzero(eroded.any(axis=1))
    if rows.size < 2:
        return None
    runs = _adjacent_runs(rows)
    best: list[tuple[slice, slice]] | None = None
    for upper, lower in itertools.pairwise(runs):
        top, bottom = int(upper[-1]) + 1, int(lower[0])
        if bottom - top < 8:
            continue
        coverage = _column_cover(mask[top:bottom])
        walls = np.flatnonzero((coverage >= COMB_WALL) & _joining(mask[top:bottom]))
        if walls.size < 3:
            continue
        reach = [np.flatnonzero(eroded[r].any(axis=0)) for r in (upper, lower)]
        printed = [lines[max(r[0] - 1, 0):r[-1] + 2, x[0]:x[-1] + 1].any(axis=0).mean()
                   for r, x in zip((upper, lower), reach, strict=True)]
        if min(printed) < COMB_PRINTED:
            continue  # long runs of touching digits' strokes, not printed lines
        ends = (min(int(x[0]) for x in reach) - length // 2,
                max(int(x[-1]) for x in reach) + length // 2)
        groups = _evenly_spaced(_adjacent_runs(walls),
                                coverage, bottom - top, ends)
        if len(groups) < 3 or _walls_go_on(mask, groups, upper, lower):
            continue
        cells = [(slice(top, bottom), slice(int(a[-1]) + 2, int(b[0]) - 1))
                 for a, b in itertools.pairwise(groups)]
        if best is None or len(cells) > len(best):
            best = cells
    return best


def _joining(band: np.ndarray) -> np.ndarray:
    """Per column of the `band` between a comb's two lines, whether it is inked next to
    both: a printed wall joins them, a tall 1 written in a box (or a box drawn by hand
    around the number) stands clear of them."""
    ends = max(2, round(WALL_ENDS * band.shape[0]))
    return (_column_cover(band[:ends]) >= 0.5) & (_column_cover(band[-ends:]) >= 0.5)


def _walls_go_on(mask: np.ndarray, groups: list[np.ndarray], upper: np.ndarray,
                 lower: np.ndarray) -> bool:
    """Whether the walls found between the rows `upper` and `lower` go on beyond them, above
    or below, inked over `COMB_WALL` of as many rows: squared paper's lines, not a comb's
    walls, which end at its lines (a digit on the grid spans several of its rows)."""
    height = int(lower[0]) - int(upper[-1]) - 1
    beyond = (mask[max(0, int(upper[0]) - height):int(upper[0])],
              mask[int(lower[-1]) + 1:int(lower[-1]) + 1 + height])
    for band in beyond:
        if band.shape[0] < height // 2:
            continue  # the page ends there
        coverage = _column_cover(band)
        if np.median([coverage[g].max() for g in groups]) >= COMB_WALL:
            return True
    return False


def _column_cover(band: np.ndarray) -> np.ndarray:
    """The share of a band's rows inked in each column, a pixel either way counting (a
    slight tilt); nothing beyond the band's sides."""
    return extremes.maximum_filter1d(band.view(np.uint8), 3, axis=1, mode="constant").mean(axis=0)


class _Outlined(NamedTuple):
    """A mark shaped as a printed box or a row of them (`box_cells`)."""

    index: int
    """its label"""
    span: tuple[slice, slice]
    """its rows and columns on the page"""
    boxes: list[tuple[slice, slice]]
    """the boxes inside its walls, within `span`"""
    outline: np.ndarray
    """its lines' and walls' pixels, within `span`"""

    @property
    def area(self) -> int:
        rows, cols = self.span
        return (rows.stop - rows.start) * (cols.stop - cols.start)


def box_cells(mask: np.ndarray, labelled: tuple[np.ndarray, int] | None = None
              ) -> tuple[list[tuple[slice, slice]], np.ndarray] | None:
    """The boxes of a form field found from their printed outlines alone (a lone box, a
    day's or month's two, a comb too small for the line finder, boxes printed apart), left
    to right, and the outlines' pixels (their lines and walls, to take out of the ink); None
    if the page has none. A field is a mark of `mask` (cropped to its box when a form's
    printed rule joins it: `_between_walls`) inked along `BOX_SIDE` of each of its four
    sides, its walls (columns inked over `BOX_SIDE` of its height, next to both its lines:
    `_joining`) dividing it into boxes of about equal width, each `BOX_ASPECT` as wide as
    tall; the largest, with the fields in a row with it (`_in_a_row`: boxes printed apart),
    and no tall mark beside them (`BESIDE`). `labelled`: `mask`'s 8-connected components
    (`ndimage.label`), when the caller has them already."""
    labels, _ = labelled or ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    marks = ndimage.find_objects(labels)
    fields = []
    for index, (rows, cols) in enumerate(marks, start=1):
        if min(rows.stop - rows.start, cols.stop - cols.start) < MIN_BOX:
            continue
        mark = labels[rows, cols] == index
        field = _outlined_boxes(mark)
        if field is None:  # a form's rule drawn along the box joins its mark
            cropped = _between_walls(rows, cols, mark)
            if cropped is not None and min(cropped[2].shape) >= MIN_BOX:
                rows, cols, mark = cropped
                field = _outlined_boxes(mark)
        if field is not None:
            fields.append(_Outlined(index, (rows, cols), *field))
    if not fields:
        return None
    row = _in_a_row(fields)
    top = min(field.span[0].start for field in row)
    bottom = max(field.span[0].stop for field in row)
    chosen = {field.index for field in row}
    for index, other in enumerate(marks, start=1):
        within = any(all(o.start >= f.start and o.stop <= f.stop
                         for o, f in zip(other, field.span, strict=True)) for field in row)
        if (index not in chosen and not within
                and other[0].stop - other[0].start >= BESIDE * (bottom - top)):
            return None  # a number beside the boxes, or a page of other marks
    full = np.zeros_like(mask)
    cells = []
    for field in row:
        rows, cols = field.span
        full[rows, cols] |= field.outline
        cells += [(slice(rows.start + r.start, rows.start + r.stop),
                   slice(cols.start + c.start, cols.start + c.stop)) for r, c in field.boxes]
    return sorted(cells, key=lambda cell: cell[1].start), full


def _in_a_row(fields: list[_Outlined]) -> list[_Outlined]:
    """The largest of the outlined `fields`, and those in a row with it: as tall (within
    `ROW_HEIGHT`), over `ROW_OVERLAP` of the rows of the shorter, their boxes as wide as its
    (within `COMB_REGULARITY`): a form's boxes printed apart."""
    largest = max(fields, key=lambda field: field.area)
    rows = largest.span[0]
    widths = [c.stop - c.start for _, c in largest.boxes]
    row = []
    for field in fields:
        other = field.span[0]
        height, own = other.stop - other.start, rows.stop - rows.start
        overlap = min(other.stop, rows.stop) - max(other.start, rows.start)
        both = widths + [c.stop - c.start for _, c in field.boxes]
        if field is largest or (1 / ROW_HEIGHT <= height / own <= ROW_HEIGHT
                                and overlap >= ROW_OVERLAP * min(height, own)
                                and max(both) <= (1 + COMB_REGULARITY) * min(both)):
            row.append(field)
    return row


def _between_walls(rows: slice, cols: slice, mark: np.ndarray
                   ) -> tuple[slice, slice, np.ndarray] | None:
    """The part of a mark (at `rows`, `cols` of the page) between its outermost tallest
    columns and within their rows: a box whose mark a printed rule joins (a form's field
    line along its bottom, out to the page's edge) cropped to the box; None when what lies
    beyond the box is no such rule."""
    cover = mark.sum(axis=0)
    walls = np.flatnonzero(cover >= BOX_SIDE * cover.max())
    left, right = int(walls[0]), int(walls[-1]) + 1
    inked = np.flatnonzero(mark[:, walls].any(axis=1))
    top, bottom = int(inked[0]), int(inked[-1]) + 1
    band = _side_bands(bottom - top, right - left)
    rest = mark.copy()
    rest[max(top - band[0], 0):bottom + band[0], max(left - band[1], 0):right + band[1]] = False
    across, along = np.flatnonzero(rest.any(axis=1)), np.flatnonzero(rest.any(axis=0))
    if (across.size == 0 or across[-1] - across[0] >= 2 * band[0]
            or along[-1] - along[0] < (right - left) / 2):
        return None
    return (slice(rows.start + top, rows.start + bottom),
            slice(cols.start + left, cols.start + right), mark[top:bottom, left:right])


def _outlined_boxes(mark: np.ndarray
                    ) -> tuple[list[tuple[slice, slice]], np.ndarray] | None:
    """The boxes inside a mark shaped as a printed box or a row of them, with its outline's
    pixels (`box_cells`); None for any other mark."""
    height, width = mark.shape
    band = _side_bands(height, width)
    sides = (mark[:band[0]].any(axis=0), mark[-band[0]:].any(axis=0),
             mark[:, :band[1]].any(axis=1), mark[:, -band[1]:].any(axis=1))
    if min(float(side.mean()) for side in sides) < BOX_SIDE:
        return None
    across, down = inked_across(mark)  # a line's rows and walls' columns: across the mark
    line_rows, wall_cols = across >= BOX_SIDE, down >= BOX_SIDE
    top, bottom = _inner_edges(line_rows, band[0])
    if top is None or bottom is None:
        return None
    # a wall joins the two lines; a digit's stroke written from one of them does not
    wall_cols &= _joining(mark[top:bottom])
    walls = np.flatnonzero(wall_cols)
    if walls.size == 0:
        return None
    inner = bottom - top
    groups = _without_streaks(_adjacent_runs(walls), BOX_ASPECT[0] * inner)
    if groups[0][0] >= band[1] or groups[-1][-1] < width - band[1]:
        return None  # the outer walls are not at the mark's sides
    cells = [(slice(top, bottom), slice(int(a[-1]) + 1, int(b[0])))
             for a, b in itertools.pairwise(groups)]
    widths = np.array([c.stop - c.start for _, c in cells])
    if (widths.size == 0 or widths.min() < BOX_ASPECT[0] * inner
            or widths.max() > BOX_ASPECT[1] * inner
            or widths.max() > (1 + COMB_REGULARITY) * widths.min()):
        return None
    wall_cols = np.zeros_like(wall_cols)  # the walls kept (streaks beside them left out)
    wall_cols[np.concatenate(groups)] = True
    outline = mark & ndimage.binary_dilation(line_rows[:, None] | wall_cols[None, :])
    return cells, outline


def _without_streaks(walls: list[np.ndarray], narrowest: float) -> list[np.ndarray]:
    """The walls (each its columns, left to right) but those beside another, closer than the
    narrowest box (`narrowest` px), and at most half as thick: a scan's streak or a JPEG's
    ringing along a printed wall. Two such walls as thick as each other both stay (the box
    between them, too narrow, refuses the mark: squared paper's lines and a digit's)."""
    kept = [walls[0]]
    for wall in walls[1:]:
        close = wall[0] - kept[-1][-1] - 1 < narrowest
        if close and 2 * wall.size <= kept[-1].size:
            continue
        if close and wall.size >= 2 * kept[-1].size:
            kept[-1] = wall
        else:
            kept.append(wall)
    return kept


def inked_across(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The share of each row's and of each column's pixels inked, a pixel either way
    counting (a printed line or wall slightly tilted): a box's lines are rows, and its walls
    columns, inked across the whole of it."""
    return _column_cover(mask.T), _column_cover(mask)


def _side_bands(height: int, width: int) -> tuple[int, int]:
    """How near a box's top or bottom (rows) and its sides (columns) its outline may lie:
    `BOX_BAND` of its height and width, at least 2 pixels."""
    return max(2, round(BOX_BAND * height)), max(2, round(BOX_BAND * width))


def _inner_edges(line_rows: np.ndarray, band: int) -> tuple[int | None, int | None]:
    """The first row below the box's top line and the first row of its bottom line, when
    both lines lie within `band` rows of the mark's top and bottom."""
    rows = np.flatnonzero(line_rows)
    if rows.size == 0 or rows[0] >= band or rows[-1] < line_rows.size - band:
        return None, None
    runs = _adjacent_runs(rows)
    if len(runs) < 2:
        return None, None
    return int(runs[0][-1]) + 1, int(runs[-1][0])


def _adjacent_runs(indices: np.ndarray) -> list[np.ndarray]:
    """Sorted row or column indices split where they skip: each printed line's rows, each
    wall's columns."""
    return np.split(indices, np.flatnonzero(np.diff(indices) > 1) + 1)


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


class _Ticks(NamedTuple):
    """A field printed as a line with ticks, within its mark (`tick_cells`)."""

    top: int
    """the line's top row"""
    spacing: float
    """from one tick to the next"""
    places: list[tuple[int, int]]
    """the columns `(from, to)` of each place between two ticks, left to right"""
    pixels: np.ndarray
    """the line's and the ticks' pixels"""


def tick_cells(mask: np.ndarray, labelled: tuple[np.ndarray, int] | None = None
               ) -> tuple[list[tuple[slice, slice]], np.ndarray] | None:
    """The places of a field printed as a line with ticks rising from it (a comb without
    boxes), left to right, and the field's pixels (its line and ticks); None if the page has
    none. The field is a mark `COMB_LINE` to `ACROSS_PAGE` of the page wide whose bottom
    rows are inked across `BOX_SIDE` of its width (the line), with at least `MIN_TICKS`
    ticks standing on them (`_ticked`). A place spans the columns between two ticks, and
    `TICK_ROOM` spacings above the line. `labelled`: `mask`'s 8-connected components, when
    the caller has them already."""
    labels, _ = labelled or ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    for index, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        if not COMB_LINE <= (cols.stop - cols.start) / mask.shape[1] < ACROSS_PAGE:
            continue  # too short, or ruled paper's line across the page
        ticks = _ticked(labels[rows, cols] == index)
        if ticks is None:
            continue
        top = rows.start + ticks.top
        room = slice(max(0, top - round(TICK_ROOM * ticks.spacing)), top)
        found = np.zeros_like(mask)
        found[rows, cols] = ticks.pixels
        return [(room, slice(cols.start + a, cols.start + b)) for a, b in ticks.places], found
    return None


def _ticked(mark: np.ndarray) -> _Ticks | None:
    """A mark's line and the ticks standing on it, or None when it is no such field. A tick
    is a run of columns inked straight up from the line, at most `TICK_WIDTH` as wide as
    tall, as tall as the others within `TICK_HEIGHT`, ending clear of any stroke
    (`_ends_clear`: a digit's stroke standing on the line goes on, bent); the ticks are
    evenly spaced (`_tick_lattice`: a digit touching a tick hides it) and at most
    `TICK_TALL` of their spacing tall (1s standing on an underline are taller)."""
    line = np.flatnonzero(inked_across(mark)[0] >= BOX_SIDE)
    if line.size == 0 or line[-1] < mark.shape[0] - 3:
        return None  # no line along the mark's foot
    top = int(_adjacent_runs(line)[-1][0])
    # how far each column is inked straight up from the line
    rising = np.argmin(np.vstack([mark[:top][::-1], np.zeros((1, mark.shape[1]), bool)]),
                       axis=0)
    columns = _adjacent_runs(np.flatnonzero(rising >= 3))
    if len(columns) < MIN_TICKS:
        return None
    heights = np.array([rising[c].max() for c in columns])
    usual = float(np.median(heights))
    thin = ((np.array([c.size for c in columns]) <= TICK_WIDTH * heights)
            & (heights <= TICK_HEIGHT * usual) & (heights * TICK_HEIGHT >= usual))
    ticks = [c for c, h, t in zip(columns, heights, thin, strict=True)
             if t and _ends_clear(mark, top - int(h), c)]
    lattice = _tick_lattice([float(c.mean()) for c in ticks])
    if lattice is None:
        return None
    spacing, on = lattice
    ticks = [ticks[n] for n in on]
    tall = max(int(rising[c].max()) for c in ticks)
    if tall > TICK_TALL * spacing:
        return None
    places = []
    # the line runs on past an end tick a digit hides, and its places with it
    first, last = int(ticks[0][0]), int(ticks[-1][-1])
    for edge, room, side in ((first, first, -1), (last, mark.shape[1] - 1 - last, 1)):
        for k in range(round(room / spacing)):
            near = edge + side * (3 + round(k * spacing))
            far = edge + side * round((k + 1) * spacing)
            places.append((max(0, min(near, far)), min(mark.shape[1], max(near, far))))
    for left, right in itertools.pairwise(ticks):
        start, stop = int(left[-1]) + 3, int(right[0]) - 2  # clear of the ticks' edges
        count = max(1, round((right.mean() - left.mean()) / spacing))
        for k in range(count):  # a hidden tick's places share the span evenly
            places.append((start + round(k * (stop - start) / count),
                           start + round((k + 1) * (stop - start) / count)))
    pixels = np.zeros_like(mark)
    pixels[top:] = mark[top:]
    rows = slice(max(0, top - tall - 1), top)
    for c in ticks:  # with their blurred edges, a pixel or two either side
        cols = slice(max(0, int(c[0]) - 2), int(c[-1]) + 3)
        pixels[rows, cols] = mark[rows, cols]
    return _Ticks(top, spacing, sorted(p for p in places if p[1] - p[0] >= MIN_PLACE), pixels)


def _ends_clear(mark: np.ndarray, end: int, columns: np.ndarray) -> bool:
    """Whether nothing of `mark` lies in the two rows above row `end` over `columns` and a
    pixel more either side: a stroke that ends there."""
    rows = mark[max(0, end - 3):max(0, end - 1), max(0, int(columns[0]) - 3):int(columns[-1]) + 4]
    return not rows.any()


def _tick_lattice(centres: list[float]) -> tuple[float, list[int]] | None:
    """The spacing of ticks at x = `centres` (left to right) and the indices of those on its
    lattice, at least `MIN_TICKS`: each within `COMB_REGULARITY` / 2 of a whole number of
    spacings from the first one on it. The spacing tried first is the smallest gap
    between neighbours; None if none holds."""
    xs = np.asarray(centres, dtype=float)
    for spacing in np.sort(np.diff(xs)):
        if spacing < 4:
            continue
        for first in range(len(xs) - MIN_TICKS + 1):
            steps = (xs[first:] - xs[first]) / spacing
            on = np.flatnonzero(np.abs(steps - np.round(steps)) <= COMB_REGULARITY / 2)
            if on.size >= MIN_TICKS and on.size >= 0.75 * (len(xs) - first):
                return float(spacing), [first + int(n) for n in on]
    return None


def box_walls(mask: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The walls of printed boxes (a box around a number, a comb field not found as one)
    that the line finder left: thin vertical runs whose two ends touch a printed line, as a
    printed wall joins its box's lines (a digit's stroke seldom touches two: a 1 written
    between ruled lines a few pixels clear of both is no wall)."""
    if not lines.any():
        return np.zeros_like(mask)
    rows = np.flatnonzero(lines.any(axis=1))
    length = max(8, int(WALL_FRACTION * (rows.max() - rows.min())))
    runs = extremes.opening1d(mask, length, axis=0)
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
