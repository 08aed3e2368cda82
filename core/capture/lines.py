"""Step 2 of the capture front-end: printed structure (ruled lines, margins, grids, form-box
borders) found as long, thin, straight runs along the page's own angle, and taken out of
the ink without the digit's own straight strokes."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from core import extremes
from core.capture.ink import MIN_INK
from core.imaging import extent

LINE_FRACTION = 0.25
"""A printed line has runs at least this fraction of the page's shorter side long..."""
SPAN_FRACTION = 0.5
"""...and either its line crosses at least this fraction of the page or it meets another.
A printed line is also at most this fraction of the page's longest side thick..."""
MEET_FRACTION = 0.3
"""Runs that meet another way (a box's corners) are printed from this fraction of the
page's shorter side: a digit's own corners (a 5, a 7) are shorter."""
LINE_END = 3
"""A run that meets a line within this many pixels of where the line ends meets its end
(a box's corner), not its middle (a stroke crossing a ruled line)."""
THIN_SHARE = 0.5
"""A printed line is thin: more than this share of a line across the page, and of each of
two runs meeting at a box's corner, is thin ink (a bar meeting a bold stem is a 7)."""
FRINGE_SHARE = 0.15
"""A line across the page at all is more than this share thin ink. A bold stroke across half
a small page is not, though the pixels along its edges are (no square of a line's
thickness fits them): about a tenth of it, against two thirds and more of a printed line,
and a fifth of a box's doubled border blurred into one."""
LONE_LINE = 0.9
"""A line across the page found alone (no other line across the page either way) is
printed only when it crosses this fraction of it: ruled paper and grids repeat their lines,
a box has two walls each way and a margin runs the page's length; a 7's bar across half a
small page does none of these."""
RULED_LINES = 2
"""A wide strip with this many lines along it or more is ruled along its length..."""
GRID_LINES = 3
"""...and with this many across it too, each crossing `LONE_LINE` of its height, it is
squared paper: the lines across are printed however short."""
LONE_RULE_GRID = 5
"""...or with one line along it found (its others lost in bold digits written across
them), this many across it: a number's tall strokes (1s, 4s, 7s) make three more easily."""
LINE_THICKNESS = 0.03
"""...(at least 3 px)."""
MIN_LINE_SIDE = 96
"""Pages smaller than this (thumbnails, low-resolution scans) have no printed lines to remove."""
STROKE_CONTRAST = 1.6
"""Ink this many times darker than the printed lines' (plus `MIN_INK`) is a stroke."""
MAX_TILT = 10.0
"""Printed lines are looked for up to this many degrees off horizontal and vertical (a
caller may look further: `printed_lines`' `max_tilt`)."""


def printed_lines(mask: np.ndarray, rows_mask: np.ndarray | None = None,
                  cols_mask: np.ndarray | None = None,
                  ink: np.ndarray | None = None, side: int | None = None,
                  strip: tuple[int, int] | None = None, max_tilt: float = MAX_TILT
                  ) -> np.ndarray:
    """The pixels of printed lines (ruled, margin, grid, box borders) in an ink mask: thin
    runs at least `LINE_FRACTION` of the page long, horizontal or vertical within
    `max_tilt` degrees. Pixels where a stroke crosses a line are not included. Lines are
    traced on `rows_mask` and `cols_mask` when given (the ink averaged along each
    direction: a faint dotted line is whole there). Given the `ink`, pixels much darker
    than the lines' own ink are a stroke lying along a line, not the line. `side`, when
    given, is the length lines are measured against instead of the page's shorter side
    and width (a strip of a longer page, seen as if it were square: a stroke as tall as
    the strip is no line). `strip`: that strip's own height and width, when `mask` is it
    padded: on a wide strip ruled along its length (`RULED_LINES`), lines across it are
    measured against its height when there are `GRID_LINES` of them (squared paper; with
    one line along it, `LONE_RULE_GRID`)."""
    h, w = mask.shape
    if max(h, w) < MIN_LINE_SIDE:
        return np.zeros_like(mask)
    rows_mask = mask if rows_mask is None else rows_mask
    cols_mask = mask if cols_mask is None else cols_mask
    length = max(24, round(LINE_FRACTION * (min(h, w) if side is None else side)))
    if (longest_run(rows_mask.any(axis=0)) < length
            and longest_run(cols_mask.any(axis=1)) < length):
        return np.zeros_like(mask)  # no run that long either way, at any tilt (`_long_runs`)
    thickness = max(3, round(LINE_THICKNESS * max(h, w)))
    thin = _thin(mask, thickness)
    thin_rows, thin_cols = thin | (rows_mask & ~mask), thin | (cols_mask & ~mask)
    along_rows, across_rows = _long_runs(rows_mask, thin_rows, length, side, max_tilt)
    along_cols, across_cols = _long_runs(cols_mask.T, thin_cols.T, length, side, max_tilt)
    along_cols, across_cols = along_cols.T, across_cols.T
    # A long run is printed if its line crosses the page, or if it meets another run or
    # line in the way of a box's corners and sides; a digit's long strokes do neither.
    across_rows, thin_across_rows, across_cols, thin_across_cols = _across_the_page(
        across_rows, across_cols, thin_rows, thin_cols, cols_mask, length, strip, max_tilt)
    spanning = across_rows | across_cols
    printed_runs = _printed_runs(along_rows & ~spanning, along_cols & ~spanning,
                                 thin_rows, thin_cols, thin_across_rows, thin_across_cols)
    on_rows = across_rows | printed_runs & along_rows
    on_cols = across_cols | printed_runs & along_cols
    lines_rows, lines_cols = on_rows & thin_rows & mask, on_cols & thin_cols & mask
    if ink is not None and (lines_rows | lines_cols).any():
        # Ink much darker than the printed lines' own ink lies on a line: a stroke along it.
        # Each way's lines are measured against their own ink: a notebook's red margin is
        # darker than its blue rules, and is no stroke for it.
        traced_rows, traced_cols = on_rows & rows_mask, on_cols & cols_mask
        lines_rows &= ~_darker(ink, traced_rows, traced_cols)
        lines_cols &= ~_darker(ink, traced_cols, traced_rows)
    return _unless_short(_uncrossed(mask, lines_rows, lines_cols), length)


def _across_the_page(across_rows: np.ndarray, across_cols: np.ndarray, thin_rows: np.ndarray,
                     thin_cols: np.ndarray, cols_mask: np.ndarray, length: int,
                     strip: tuple[int, int] | None, max_tilt: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The lines across the page along the rows and down the columns (`_long_runs`'
    second mask each way), as `_thin_across` keeps them: for each way, the pieces that are
    lines at all, and those of them that are printed. Ruled lines, margins and grids cross
    most of the page; a line alone must cross nearly all of it (`LONE_LINE`: a 7's thin bar
    alone across a small page does not). On a wide `strip` ruled along its length, the
    lines down it are measured against its height (`_grid_across`: squared paper; with
    one line along it found, the others lost in bold digits written across them, more of
    them are needed, `LONE_RULE_GRID`)."""
    across_rows, thin_across_rows, row_lines = _thin_across(across_rows, thin_rows, length, 1)
    across_cols, thin_across_cols, col_lines = _thin_across(across_cols, thin_cols, length, 0)
    if strip is not None and strip[1] > strip[0] and row_lines:
        across_cols, thin_across_cols, col_lines = _grid_across(
            cols_mask, thin_cols, length, strip[0], max_tilt,
            (across_cols, thin_across_cols, col_lines),
            GRID_LINES if row_lines >= RULED_LINES else LONE_RULE_GRID)
    if row_lines + col_lines == 1:  # a line alone: a stroke unless it crosses the page
        stroke = _short(thin_across_rows, 1) | _short(thin_across_cols, 0)
        across_rows, thin_across_rows = across_rows & ~stroke, thin_across_rows & ~stroke
        across_cols, thin_across_cols = across_cols & ~stroke, thin_across_cols & ~stroke
    return across_rows, thin_across_rows, across_cols, thin_across_cols


def _printed_runs(runs_rows: np.ndarray, runs_cols: np.ndarray, thin_rows: np.ndarray,
                  thin_cols: np.ndarray, lines_rows: np.ndarray, lines_cols: np.ndarray
                  ) -> np.ndarray:
    """Which pixels of the long runs along the rows and down the columns that lie on no
    line across the page are printed: a run that meets a thin long run the other way, being
    thin itself (a box's corners), or the end of a thin line across the page the other way
    (`lines_rows`, `lines_cols`: the side of a box as wide as half the page). A long stroke
    of a digit, such as a tall 1 on a small page, does neither: it crosses ruled lines, it
    does not end them."""
    labels, count = ndimage.label(runs_rows | runs_cols, structure=np.ones((3, 3), dtype=bool))
    printed = np.zeros(count + 1, dtype=bool)
    corners = runs_rows & near_lines(runs_cols)
    if corners.any():  # (on most pages no run meets another)
        corners = _thin_runs(runs_rows, thin_rows) & near_lines(_thin_runs(runs_cols, thin_cols))
    printed[labels[corners]] = True
    printed[labels[_meeting_ends(runs_rows, lines_cols, axis=0)]] = True
    printed[labels[_meeting_ends(runs_cols, lines_rows, axis=1)]] = True
    printed[0] = False
    return printed[labels]


def _uncrossed(mask: np.ndarray, lines_rows: np.ndarray, lines_cols: np.ndarray
               ) -> np.ndarray:
    """The printed lines without the pixels where a stroke of the `mask`'s other ink crosses
    them: there, the line's pixels between its two sides are the stroke's ink."""
    lines = lines_rows | lines_cols
    rest = mask & ~lines
    crossed = _crossed(rest, lines_rows, lines_cols, 0) | _crossed(rest, lines_cols, lines_rows, 1)
    return lines & ~crossed


def _grid_across(cols_mask: np.ndarray, thin_cols: np.ndarray, length: int, height: int,
                 max_tilt: float, found: tuple[np.ndarray, np.ndarray, int],
                 at_least: int = GRID_LINES) -> tuple[np.ndarray, np.ndarray, int]:
    """On a wide strip ruled along its length, `_thin_across`'s lines down the page measured
    against the strip's own `height` (each crossing `LONE_LINE` of it), when there are
    `at_least` of them or more: squared paper's columns, with the lines `found` measured
    against its width; else those alone."""
    crossing = min(length, round(LONE_LINE * height))  # (a strip over 4 times as wide)
    span = round(LONE_LINE / SPAN_FRACTION * height)
    _, across = _long_runs(cols_mask.T, thin_cols.T, crossing, span, max_tilt)
    lines, thin, count = _thin_across(across.T, thin_cols, crossing, 0)
    if count < at_least:
        return found
    return lines | found[0], thin | found[1], max(count, found[2])


def _darker(ink: np.ndarray, traced: np.ndarray, crossing: np.ndarray) -> np.ndarray:
    """The pixels `STROKE_CONTRAST` times darker (plus `MIN_INK`) than the median ink of
    the lines `traced`, away from the lines `crossing` them the other way (where two lines
    cross, their ink adds up: a grid's crossings would raise it); none without lines."""
    alone = traced & ~crossing
    own = alone if alone.any() else traced
    if not own.any():
        return np.zeros_like(traced)
    level = float(np.median(np.sort(ink[own])))  # (sorted first: faster, as in `_light_on_dark`)
    return ink > STROKE_CONTRAST * level + MIN_INK


def _thin_across(across: np.ndarray, thin: np.ndarray, length: int,
                 axis: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The pieces of `across` (lines across the page along `axis`, 1: rows) that are lines
    at all (`FRINGE_SHARE`); those of them at least `length` long and mostly thin
    (`THIN_SHARE`: a bold stroke's are no printed line); and how many of those there are."""
    if not across.any():
        return across, across, 0
    # on the pieces' box alone: the same pieces, numbered in the same (raster) order
    box = extent(across)
    inside = across[box]
    labels, count = ndimage.label(inside, structure=np.ones((3, 3), dtype=bool))
    spans = np.array([0] + [p[axis].stop - p[axis].start for p in ndimage.find_objects(labels)])
    lines, mostly = _mostly(labels, count, thin[box] & inside, (FRINGE_SHARE, THIN_SHARE))
    keep = mostly & (spans >= length)
    found, kept = np.zeros_like(across), np.zeros_like(across)
    found[box], kept[box] = lines[labels], keep[labels]
    return found, kept, int(np.count_nonzero(keep))


def _short(line: np.ndarray, axis: int) -> np.ndarray:
    """`line` (along `axis`, 1: rows) when it crosses less than `LONE_LINE` of the page."""
    if not line.any():
        return line
    along = extent(line)[axis]
    return line if along.stop - along.start < LONE_LINE * line.shape[axis] else np.zeros_like(line)


def _thin_runs(runs: np.ndarray, thin: np.ndarray) -> np.ndarray:
    """The connected runs of which more than `THIN_SHARE` of the pixels are `thin`."""
    labels, count = ndimage.label(runs, structure=np.ones((3, 3), dtype=bool))
    return _mostly(labels, count, thin & runs)[0][labels]


def _mostly(labels: np.ndarray, count: int, some: np.ndarray,
            shares: tuple[float, ...] = (THIN_SHARE,)) -> list[np.ndarray]:
    """For each of `shares`, per label (0 to `count`; 0, the background, False), whether
    more than that share of its pixels are in `some` (the pixels counted once for all)."""
    pixels = np.bincount(labels.ravel(), minlength=count + 1)
    inside = np.bincount(labels[some], minlength=count + 1)
    kept = []
    for share in shares:
        keep = inside > share * pixels
        keep[0] = False
        kept.append(keep)
    return kept


def near_lines(mask: np.ndarray) -> np.ndarray:
    """Pixels within 2 px of `mask` (a 5x5 neighbourhood): beside the printed lines found."""
    out = np.zeros_like(mask)
    box = grown_extent(mask, 2)
    if box is not None:
        out[box] = extremes.maximum_filter(mask[box].view(np.uint8), size=5)
    return out


def grown_extent(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """The box of the True pixels grown by `margin` on each side (within the page); None
    when there are none. A filter reaching at most `margin` px either way (a min or max
    filter at most `2 * margin + 1` wide, or two in turn each half that) finds on it what
    it finds on the whole page, and nothing outside it: what its edge mode reads past the
    box's sides is blank either way. The line finder's filters run on it alone (a strip
    is padded to a square, and the ink is mostly a number in a margin of paper)."""
    if not mask.any():
        return None
    rows, cols = extent(mask)
    return (slice(max(0, rows.start - margin), rows.stop + margin),
            slice(max(0, cols.start - margin), cols.stop + margin))


def _meeting_ends(runs: np.ndarray, lines: np.ndarray, axis: int) -> np.ndarray:
    """The pixels of `runs` within 2 px of an end of `lines` (running along `axis`): the
    pixels of each line (8-connected piece of `lines`) within `LINE_END` px of its first or
    last position along it. Worked out around the runs only (a page's ruled lines are
    long, its runs few): a line leaving that neighbourhood along its length has no end
    there, unless it leaves the page."""
    if not runs.any():
        return np.zeros_like(runs)
    rows, cols = extent(runs)
    reach = 2 + LINE_END + 1
    window = (slice(max(0, rows.start - reach), rows.stop + reach),
              slice(max(0, cols.start - reach), cols.stop + reach))
    labels, count = ndimage.label(lines[window], structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return np.zeros_like(runs)
    along = window[axis]
    size = labels.shape[axis]
    spans = np.array([(s[axis].start, s[axis].stop - 1) for s in ndimage.find_objects(labels)])
    first, last = np.concatenate(([[0, 0]], spans)).T
    first = np.where((first == 0) & (along.start > 0), -size, first)  # goes on past it
    last = np.where((last == size - 1) & (along.start + size < runs.shape[axis]), 2 * size,
                    last)
    position = np.arange(size)[None, :] if axis == 1 else np.arange(size)[:, None]
    ends = (labels > 0) & ((position <= first[labels] + LINE_END)
                           | (position >= last[labels] - LINE_END))
    out = np.zeros_like(runs)
    out[window] = runs[window] & near_lines(ends)
    return out


def _unless_short(lines: np.ndarray, length: int) -> np.ndarray:
    """The printed lines found, or none when no line of them is `length` long, its pieces
    bridged across gaps of a quarter of that (a junction with a box's wall, a stroke
    crossing it): a digit's strokes, touching digits' above all, make long runs in the
    finder's bands, of which only scattered short bits are left, while ruled lines and
    a box's stay long beside what crosses them."""
    if not lines.any():
        return lines
    gap = max(3, length // 4)
    box = grown_extent(lines, gap)
    for bridge in ((3, gap), (gap, 3)):  # along rows, then along columns
        # (separable: fast; on the lines' box, the same pieces)
        joined = extremes.maximum_filter(lines[box].view(np.uint8), size=bridge)
        pieces = ndimage.find_objects(ndimage.label(joined)[0])
        if any(max(r.stop - r.start, c.stop - c.start) - gap >= length for r, c in pieces):
            return lines
    return np.zeros_like(lines)


def _thin(mask: np.ndarray, thickness: int) -> np.ndarray:
    """Ink in no square as wide as a printed line is thick (the crossing of two thin lines
    is thin too; a bold stroke is not)."""
    size = thickness + 1
    thin = np.zeros_like(mask)
    box = grown_extent(mask, size)
    if box is not None:
        ink = mask[box]
        square = extremes.maximum_filter(extremes.minimum_filter(ink.view(np.uint8), size), size)
        thin[box] = ink & ~square.astype(bool)
    return thin


def _crossed(rest: np.ndarray, lines: np.ndarray, others: np.ndarray, axis: int) -> np.ndarray:
    """The pixels of `lines` (not of the `others`, the lines the other way) that ink of
    `rest` on both sides of them across `axis` bridges: where a stroke crosses them.
    Worked out around the lines only: the closing along `axis` reaches at most its size
    either way, so a window that much longer than the lines' extent along `axis` (and as
    wide across) gives the same pixels; none without lines (most pages have lines one way
    at most)."""
    if not lines.any():
        return np.zeros_like(lines)
    size = _gap(lines, axis)
    window = list(extent(lines))
    along = window[axis]
    window[axis] = slice(max(0, along.start - 2 * size), along.stop + 2 * size)
    box = tuple(window)
    out = np.zeros_like(lines)
    out[box] = extremes.closing1d(rest[box], size, axis=axis) & lines[box] & ~others[box]
    return out


def _gap(lines: np.ndarray, axis: int) -> int:
    """A little more than the lines' thickness across `axis` (their area over their runs),
    with the +-2 px band they were traced in."""
    pixels = np.count_nonzero(lines)
    # a run starts at each of its pixels but those that continue one (no diff: cheaper)
    following = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
    preceding = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
    starts = pixels - np.count_nonzero(lines[following] & lines[preceding])
    return int(2 * round(pixels / max(starts, 1) / 2) + 7)


def _long_runs(mask: np.ndarray, thin: np.ndarray, length: int, span: int | None = None,
               max_tilt: float = MAX_TILT) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of `mask` on runs along the rows at least `length` long, at the tilt of the
    thin ink's rows (a band of +-2 px absorbs what is left of it); and those whose line
    holds such runs over `SPAN_FRACTION` of the width (or of `span`). The first are only
    the runs at least `MEET_FRACTION` / `LINE_FRACTION` times `length` long."""
    h, w = mask.shape
    span = w if span is None else span
    if length > w or longest_run(mask.any(axis=0)) < length:
        # A run that long at any tilt has ink in as many adjacent columns: none here (a
        # number's digits with gaps between them, a digit on a blank page).
        return np.zeros_like(mask), np.zeros_like(mask)
    angle = _line_angle(thin, length, max_tilt)
    if angle == 0.0:  # scans and level photos: no shear needed
        band = extremes.maximum_filter1d(mask.view(np.uint8), 5, axis=0)
        sums = band.sum(axis=1)
        if sums.max() < length:  # no row holds a run that long: no lines
            return np.zeros_like(mask), np.zeros_like(mask)
        runs, longer = _runs(band, length, span, sums)
        return (longer & mask), (runs & mask)
    offsets = np.round(np.arange(w) * np.tan(np.radians(angle))).astype(np.intp)
    offsets -= offsets.min()
    pad = int(offsets.max())
    # Sheared: column x moved down by pad - offsets[x], so that the lines run along rows.
    # The offsets rise or fall in steps: one slice copy per block of columns sharing one.
    starts = np.concatenate(([0], np.flatnonzero(np.diff(offsets)) + 1))
    blocks = [(int(a), int(b), pad - int(offsets[a]))
              for a, b in zip(starts, [*starts[1:], w], strict=True)]
    sheared = np.zeros((h + pad, w), dtype=np.uint8)
    for a, b, down in blocks:
        sheared[down:down + h, a:b] = mask[:, a:b]
    band = extremes.maximum_filter1d(sheared, 5, axis=0)
    sums = band.sum(axis=1)
    if sums.max() < length:  # no row holds a run that long: no lines
        return np.zeros_like(mask), np.zeros_like(mask)
    spanning, longer = _runs(band, length, span, sums)
    found, across = np.empty_like(mask), np.empty_like(mask)
    for a, b, down in blocks:
        found[:, a:b] = longer[down:down + h, a:b]
        across[:, a:b] = spanning[down:down + h, a:b]
    return found & mask, across & mask


def longest_run(present: np.ndarray) -> int:
    """The length of the longest run of True."""
    edges = np.flatnonzero(np.diff(present.view(np.int8), prepend=0, append=0))
    return int((edges[1::2] - edges[::2]).max(initial=0))


def _runs(band: np.ndarray, length: int, width: int,
          sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In a band image (rows along the lines; `sums`: its rows' sums): runs on rows holding
    `SPAN_FRACTION` of the width in runs `length` long, and the runs `MEET_FRACTION` /
    `LINE_FRACTION` as long. Only rows holding `length` pixels can hold such a run: the
    openings look at those alone."""
    rows = np.flatnonzero(sums >= length)
    spanning, longer = np.zeros(band.shape, dtype=bool), np.zeros(band.shape, dtype=bool)
    if rows.size == 0:
        return spanning, longer
    some = band[rows]
    runs = extremes.opening1d(some, length, axis=1)
    spanning[rows] = runs & (runs.sum(axis=1) >= SPAN_FRACTION * width)[:, None]
    meeting = round(length * MEET_FRACTION / LINE_FRACTION)
    longer[rows] = extremes.opening1d(some, meeting, axis=1) & runs
    return spanning, longer


def _line_angle(thin: np.ndarray, length: int, max_tilt: float = MAX_TILT) -> float:
    """The tilt (degrees) at which rows of thin ink are most concentrated: the angle of the
    page's printed lines (projection profiles, as skew detectors do)."""
    ys, xs = pixels_of(thin)
    if ys.size < length:
        return 0.0
    if ys.size > 8_000:
        # A random sample (fixed seed): evenly spaced picks in raster order alias with the
        # period of ruled lines or a grid and can favour a wrong angle.
        pick = np.random.default_rng(0).integers(0, ys.size, 8_000)
        ys, xs = ys[pick], xs[pick]
    ys = ys + int(np.ceil(thin.shape[1] * np.tan(np.radians(max_tilt)))) + 1
    angles = sorted(np.arange(-max_tilt, max_tilt + 0.01, 1.0), key=abs)
    tans = np.array([np.tan(np.radians(angle)) for angle in angles])
    # each angle's shift per column, looked up by the pixels' columns (as many products as
    # columns, not as pixels); one angle's profile at a time: arrays the size of the sample,
    # not that times the angles (a large array's pages cost more to fault in than the
    # sums); a score is a sum of squared counts, exact either way
    shifts = np.round(np.arange(thin.shape[1])[None, :] * tans[:, None]).astype(np.intp)
    profiles = (np.bincount(ys - shift[xs]) for shift in shifts)
    scores = np.array([np.dot(profile, profile) for profile in profiles])
    return float(angles[int(np.argmax(scores))])  # on a tie, the angle nearer 0 (first)


def pixels_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.nonzero` of a 2-D mask (rows and columns, in raster order) from its flat
    indices: the same arrays, for a third of the cost or less."""
    rows, cols = np.divmod(np.flatnonzero(mask), mask.shape[1])
    return rows, cols


