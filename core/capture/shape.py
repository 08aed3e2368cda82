"""Step 5 of the capture front-end: is the mark found a digit at all? On a page with no digit
(blank paper in a shadow, an empty form box, ruled paper), what is left after the first
steps is a piece of printed structure or of the light, and the classifier, which has only
ever seen digits, reads it as one (most often a 1). Shapes no handwritten digit has are
refused with "no digit found" (docs/capture.md "pages without a digit" and the entries
after it)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from core.capture.components import EDGE, smaller_than_a_digit, smallest_digit
from core.capture.lines import MIN_LINE_SIDE
from core.imaging import ImageError, component_boxes

WIDEST = 3.0
"""A digit is at most this many times as wide as tall (MNIST's widest: 2.5 times, and 5 of
its 60,000 training digits over 2; a capture's blur, slant and glare add a little); a wider
mark is a printed line's piece, a box's wall or a shadow's edge."""
ALONG_FRAME = 3.0
"""A mark at least this many times as long as it is wide, lying along the frame (touching
one side of it over its length, not both ends), is the page's edge or a shadow's band: a
digit cut by a tight crop crosses the frame, it does not run along it."""
OUTLINE_BAND = 0.12
"""An empty box: ink within this fraction of the mark's shorter side of each of its four
sides..."""
OUTLINE_COVER = 0.7
"""...along at least this fraction of every side..."""
OUTLINE_INSIDE = 0.05
"""...and at most this share of its ink further inside (a box holding a digit keeps it)."""
OUTLINE_SIDE = 12
"""(marks this many pixels across and more: smaller ones are a digit's loop or a speck)"""
SPECKS = 0.5
"""A mark made only of pieces at most this fraction of the smallest digit long
(`smallest_digit`) is specks, not a digit in pieces..."""
SCATTERED = 0.4
"""...and so is one of dots no longer than the smallest digit, the longest under this
fraction of the mark's own length: a digit in pieces keeps one that long (its main
stroke)..."""
DOT_ASPECT = 2.5
"""...where a dot is a piece at most this many times as long as it is wide, or a speck: a
faint stroke breaks into dashes along it, thinner than long."""
STEP_MARGIN = 0.05
"""A mark within this fraction of the page's longer side of the frame..."""
STEP_ASPECT = 2.0
"""...at least this many times as long along that side as it is across (the page's other
side lies beyond it, not a gradient across the whole page)..."""
STEP_CONTRAST = 25.0
"""...with the page between it and the frame this many grey levels (of 255) brighter or
darker than as far beyond its other side, lies along a step of the paper's brightness."""
INKED = 0.3
"""A pixel of a digit's crop is its mark from this fraction of full scale (the crop's
strokes are evened to full scale, `even_strokes`)."""


def refuse_non_digit(mark: np.ndarray, box: tuple[int, int, int, int],
                     page: tuple[int, int], several: bool = False,
                     pixels: np.ndarray | None = None) -> None:
    """Raise "no digit found" when the mark found, its pixels `mark` (bool, over its box)
    and `box` (x, y, width, height) on a page of shape `page` (h, w), is shaped like no
    digit: smaller than a digit can be (`smaller_than_a_digit`: the components' bound on
    the cluster, here on the ink at the ink level, which can be a speck of it), wider than
    `WIDEST` (unless it may be `several` digits side by side, as a number's group), lying
    along the frame, an empty box's outline, specks; or, given the page's `pixels`, lying
    along its edge a few pixels inside the frame."""
    _, _, width, height = box
    too_wide = not several and width > WIDEST * height
    too_small = smaller_than_a_digit(height, width, page)
    if (too_small or too_wide or _along_frame(box, page) or _empty_outline(mark)
            or _only_specks(mark, page)
            or (pixels is not None and _along_a_step(pixels, box))):
        raise ImageError("no digit found")


def _along_frame(box: tuple[int, int, int, int], page: tuple[int, int]) -> bool:
    """A long thin mark touching a side of the frame along its length (pages from
    `MIN_LINE_SIDE` on: a small scan's digit nearly fills it)."""
    h, w = page
    if max(h, w) < MIN_LINE_SIDE:
        return False
    x, y, width, height = box
    left, right = x <= EDGE, x + width >= w - EDGE
    top, bottom = y <= EDGE, y + height >= h - EDGE
    upright = (left or right) and height >= ALONG_FRAME * width and not (top and bottom)
    lying = (top or bottom) and width >= ALONG_FRAME * height and not (left and right)
    return upright or lying


def _empty_outline(mark: np.ndarray) -> bool:
    """The mark along all four sides of its box and nearly none of it inside: a printed box
    with nothing written in it (on a page too small for its walls to be found as lines)."""
    h, w = mark.shape
    if min(h, w) < OUTLINE_SIDE:
        return False
    band = max(2, round(OUTLINE_BAND * min(h, w)))
    sides = (mark[:band].any(axis=0), mark[-band:].any(axis=0),
             mark[:, :band].any(axis=1), mark[:, -band:].any(axis=1))
    if min(float(side.mean()) for side in sides) < OUTLINE_COVER:
        return False
    inside = np.count_nonzero(mark[2 * band:-2 * band, 2 * band:-2 * band])
    return inside <= OUTLINE_INSIDE * np.count_nonzero(mark)


def _only_specks(mark: np.ndarray, page: tuple[int, int]) -> bool:
    """The mark in several pieces, each a speck (`SPECKS`), or each a dot (`DOT_ASPECT`)
    scattered over it (`SCATTERED`): the crossings of a faint grid, where two lines' ink
    adds up to the ink level (squared paper in pencil light), taken together as a broken
    stroke's pieces. A digit parted by printed lines, however small, leaves longer pieces;
    a small digit's pieces are a good share of its size; a faint stroke breaks into dashes."""
    labels, count = ndimage.label(mark, structure=np.ones((3, 3), dtype=bool))
    if count < 2:
        return False
    boxes = component_boxes(labels)
    sides = np.sort(boxes[:, 2:] - boxes[:, :2], axis=1)  # each piece's shorter, longer side
    longest, smallest = int(sides[:, 1].max()), smallest_digit(page)
    if longest <= SPECKS * smallest:
        return True
    dots = (sides[:, 1] <= DOT_ASPECT * sides[:, 0]) | (sides[:, 1] <= SPECKS * smallest)
    return bool(dots.all() and longest <= smallest and longest < SCATTERED * max(mark.shape))


def _along_a_step(pixels: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """A long mark along a side of the frame, a few pixels inside it, where the page between
    it and the frame is another brightness than as far beyond its other side: the page's
    edge, with the table (or a turned photo's fill) beyond it. The paper is estimated on a
    coarse copy, which blurs a sharp step in it: on the step's dark side the paper is taken
    too bright, and a band of false ink follows the edge, long and thin like a 1. A digit
    near the frame has the same paper on both sides. (Pages from `MIN_LINE_SIDE` on.)"""
    h, w = pixels.shape[:2]
    if max(h, w) < MIN_LINE_SIDE:
        return False
    margin = max(2, round(STEP_MARGIN * max(h, w)))
    x, y, width, height = box
    # each side of the frame turned to be the left one: (the page so turned, the mark's gap
    # to that side, its size across and its start and size along it)
    across_page = np.swapaxes(pixels, 0, 1)
    sides = ((pixels, x, width, y, height), (pixels[:, ::-1], w - x - width, width, y, height),
             (across_page, y, height, x, width),
             (across_page[:, ::-1], h - y - height, height, x, width))
    for view, gap, across, start, along in sides:
        beyond = 2 * gap + across  # the far end of the strip beyond the mark's other side
        if along < STEP_ASPECT * across or not 0 < gap <= margin or beyond > view.shape[1]:
            continue
        rows = slice(start, start + along)
        outside = float(np.median(_grey(view[rows, :gap])))
        inside = float(np.median(_grey(view[rows, gap + across:beyond])))
        if abs(outside - inside) >= STEP_CONTRAST:
            return True
    return False


def _grey(pixels: np.ndarray) -> np.ndarray:
    """Grey (h, w) or colour (h, w, 3) pixels as grey: the mean of the channels (only the
    strips `_along_a_step` compares: most marks lie along no side, and the whole page's
    mean costs 2 ms)."""
    return pixels if pixels.ndim == 2 else pixels.mean(axis=2)
