"""Cutting a group of touching digits into candidate pieces, and weighing each piece's shape.

A group of ink wider than one digit may hold several: it is offered cut points (the minima
of its column projection, the valleys of its outline, the ends of a lighter digit's columns)
and the spans between two of them that could be one digit. The pieces are read by the
classifier and the cutting whose pieces read best wins (`core.numbers.choose`);
`height_fit` and `width_fit` say how likely a piece's shape is for one digit. The
whole-digit verifier (`core.wholeness`) is trained on pieces cut the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from core.capture import Box, even_strokes

MAX_CUTS = 20
"""Candidate cut points per group, at most (the deepest minima of its column projection)."""
HEIGHT_SPREAD = 0.3
"""The spread (in log of the height ratio) of a whole digit's height under its group's."""
MIN_PIECE, MAX_PIECE = 0.15, 1.8
"""A candidate piece is this many typical digit widths wide, at least and at most."""
SLIVER = 0.25
"""Parts of a cut piece with less ink than this fraction of its largest part are slivers of
a neighbour."""
WIDER_SPREAD, NARROWER_SPREAD = 0.5, 1.0
"""The spread (in log of the width ratio) of digit widths around the typical one."""
ONE_WIDTH = 0.42
"""A 1's typical width, in typical digit widths: the median width of MNIST's training 1s
over the upper quartile of its other digits' (their height the same)."""
TYPICAL_ASPECT = 0.7
"""A digit's width over its height when no unsplit neighbour tells better."""
WIDE_ASPECT = 0.9
"""A digit seldom is wider than this fraction of its height."""
LIGHT_COLUMNS = 0.5
"""Columns whose darkest ink is under this fraction of the group's darkest are written
lighter: a light digit touching a bold one."""
LIGHT_RUN = 0.25
"""...when they run this many typical digit widths or more."""
CUT_APART = 0.12
"""Cut points are this many typical digit widths apart at least, and as far from the group's
ends: closer, the piece between them is a sliver."""


@dataclass(frozen=True)
class Group:
    """One digit-sized group of components: its mask and box on the analysed page."""

    mask: np.ndarray
    """bool, over the page crop `rows`, `cols`"""
    rows: slice
    cols: slice


def typical_widths(widths: list[int], heights: list[int]) -> list[float]:
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


def height_fit(ratio: float) -> float:
    """How likely a piece this fraction as tall as its group is a whole digit (log): a cut
    that leaves only part of a stroke is shorter than the digits around it."""
    return -float(np.log(min(max(ratio, 1e-3), 1.0))) ** 2 / (2 * HEIGHT_SPREAD**2)


def width_fit(ratio: float, label: int) -> float:
    """How likely the digit `label` is this many typical widths wide (log, 0 at its own
    typical width: `ONE_WIDTH` for a 1, 1 for the others): wider is soon unlikely, narrower
    much less so; a 1 may be much narrower or wider than its typical width."""
    if label == 1:  # upright or slanted, with or without its flag: any width near its own
        centre, spread = ONE_WIDTH, NARROWER_SPREAD
    else:
        centre, spread = 1.0, WIDER_SPREAD if ratio > 1.0 else NARROWER_SPREAD
    return -float(np.log(max(ratio, 1e-3) / centre)) ** 2 / (2 * spread**2)


def candidate_cuts(ink: np.ndarray, typical: float, budget: int, outline: bool = True,
                   light: bool = True) -> tuple[list[int], list[tuple[int, int]]]:
    """Where a wide group may be cut: its ends, the deepest minima of its column
    projection (at most `MAX_CUTS`), if `outline` the valleys of its outline
    (`_contour_valleys`), if `light` where its strokes turn much lighter or darker
    (`_darkness_steps`); and the spans between two of them wide enough and narrow enough to
    be one digit (the whole group always), at most `budget`."""
    width = ink.shape[1]
    profile = ndimage.uniform_filter1d(ink.sum(axis=0), 3)
    inner = np.arange(2, width - 2)
    if inner.size == 0:
        return [0, width], [(0, 1)]
    left, right = profile[inner - 1], profile[inner + 1]
    minima = inner[(profile[inner] <= left) & (profile[inner] <= right)]
    apart = CUT_APART * typical
    minima = minima[(minima >= apart) & (minima <= width - apart)]
    expected = width / typical
    keep = min(MAX_CUTS, int(np.ceil(2.5 * expected)) + 2)
    picked: list[int] = []
    for x in minima[np.argsort(profile[minima], kind="stable")]:
        if all(abs(int(x) - p) >= max(2, apart) for p in picked):
            picked.append(int(x))
        if len(picked) == keep:
            break
    for x in _contour_valleys(ink > 0, typical, expected) if outline else ():
        if all(abs(x - p) >= max(2, apart) for p in picked):
            picked.append(x)
    # where the pen changes, kept even beside a projection minimum (inside the pale digit)
    for x in _darkness_steps(ink, typical) if light else ():
        if apart <= x <= width - apart and all(
                abs(x - p) >= 2 for p in picked):
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


def _darkness_steps(ink: np.ndarray, typical: float) -> list[int]:
    """The ends of each run of columns written much lighter than the group's darkest
    (`LIGHT_COLUMNS`, at least `LIGHT_RUN` typical widths long): where a light digit
    touches a bold neighbour. The column projection has its minima inside the light
    digit, whose ink weighs little, not where it meets the bold one."""
    peaks = ink.max(axis=0)
    light = (peaks > 0) & (peaks < LIGHT_COLUMNS * peaks.max())
    runs, _ = ndimage.label(light)
    steps: list[int] = []
    for run in ndimage.find_objects(runs):
        start, stop = run[0].start, run[0].stop
        if stop - start >= LIGHT_RUN * typical:
            steps += [start, stop]
    return steps


def cut_piece(ink: np.ndarray, group: Group, left: int, right: int, threshold: float
           ) -> tuple[np.ndarray, Box] | None:
    """The ink of a group's columns [left, right), trimmed to its rows, light on black,
    0-255, strokes evened as the front-end does for one digit (`even_strokes`), for
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
    mask = dilated(mask)
    crop = ink[group.rows, group.cols][:, left:right] * mask
    rows = np.flatnonzero(crop.max(axis=1) > 0)
    cols = np.flatnonzero(crop.max(axis=0) > 0)
    if rows.size < 2 or cols.size < 1:
        return None
    crop = crop[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    x = group.cols.start + left + int(cols[0])
    y = group.rows.start + int(rows[0])
    evened = even_strokes(crop, threshold) * np.float32(255.0)
    return evened.astype(np.float32, copy=False), (x, y, crop.shape[1], crop.shape[0])


def dilated(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    """`ndimage.binary_dilation(mask, iterations=steps)` (its cross) by four shifted ORs a
    step: the same pixels without its set-up cost, which dominates on a digit-sized mask.
    `steps` ≥ 1 (ndimage's 0 grows until nothing changes; here it returns `mask` itself)."""
    for _ in range(steps):
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        mask = grown
    return mask
