"""Step 4 of the capture front-end: a decoded page to its digit: the three steps on a page at
a bounded size (and again at full resolution around a digit found small), faint strokes
traced on small scans, the ink cropped for `core.imaging.normalise` and its box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from core import extremes
from core.capture.components import digit_components
from core.capture.ink import (
    MIN_INK,
    ink_against_paper,
    ink_threshold,
    noise_level,
)
from core.capture.lines import (
    MIN_LINE_SIDE,
    near_lines,
    printed_lines,
)
from core.capture.shape import INKED, refuse_non_digit
from core.capture.sheet import paper_only
from core.imaging import MNIST_SIDE, ImageError, extent, ink_box, mnist_form_many, normalise

TINY_SIDE = 32
"""Images this small (icons, MNIST-size drawings) hold nothing but the digit: they go
straight to the normalisation."""
ANALYSIS_SIDE = 400
"""Pages are analysed at most this many pixels on their longest side (512 read 0.7-1.7
points more of notebooks, forms and pencil but cost twice as much on 800-px pages:
docs/capture.md)."""
REFINE_BELOW = 0.15
"""A digit found less than this fraction of `ANALYSIS_SIDE` long on a page reduced at least
`REFINE_GAIN` times for the analysis is found again at the page's own resolution..."""
REFINE_GAIN = 1.3
"""(a page is decoded less than twice `core.imaging.WORKING_SIDE` long, and reduced up to 2.5
times more for the analysis; a 12-megapixel JPEG, decoded at 500 px, gains too little for
the second look's cost)"""
REFINE_WINDOW = 5.0
"""...on a window this many times its size around it, and at least twice `MIN_LINE_SIDE`
(the digit a fifth of it: printed lines still cross it, and it is no bigger than on a page
it fills)."""
TRACE_BELOW = 128
"""On small scans (analysed pages under this many px) the digit's strokes are traced into
fainter ink (a smoother copy, above its own noise), never into printed lines or beside
them: a blurred digit a few pixels wide loses its thin strokes under the ink level. (On
larger photos faint ink beside a digit is its halo or the paper's shading: traced on every
page, the capture seeds lost 14 points on notebook photos, 5 on shadows, 4 on pencil.)"""
FAINT_SPREAD = 3.0
"""...unless that ink spreads to more than this many times the digit's pixels: then it is
the paper. (A thin pen's loop can be two thirds faint: the faint ink is then twice the
firm; paper that is traced spreads over the page, many times the digit.)"""
LINE_TRACE = 9
"""Lines are traced on the ink averaged over this many pixels along them..."""
TRACE_LEVEL = 0.6
"""...down to this fraction of the ink level."""


Box = tuple[int, int, int, int]
"""(x, y, width, height) in pixels of the upright uploaded image."""


@dataclass(frozen=True)
class Digit:
    """The digit found: its ink (float32, light on black, 0-255, cropped to it) and its box
    `(x, y, width, height)` in pixels of the upright uploaded image."""

    ink: np.ndarray
    box: Box


def read_digit(pixels: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, Box]:
    """A decoded page (see `find_digit`) to its digit in MNIST form (uint8 (28, 28)) and the
    digit's box. An image already in MNIST form is returned as it is (MNIST round-trips)."""
    pixels = np.asarray(pixels)
    if pixels.shape == (MNIST_SIDE, MNIST_SIDE) and pixels.dtype == np.uint8:
        digit, box = mnist_form_many(pixels[None])
        if digit[0] is not None:
            return digit[0], scaled_box(box[0], scale)
    if max(pixels.shape[:2]) <= TINY_SIDE:
        grey = pixels if pixels.ndim == 2 else pixels.mean(axis=2, dtype=np.float32)
        digit = normalise(grey)  # checks there is ink before the box is asked for
        return digit, scaled_box(ink_box(grey), scale)
    found = find_digit(pixels, scale)
    return normalise(found.ink), found.box


def scaled_box(box: Box, scale: float) -> Box:
    """A box on an analysed (reduced) page in pixels of the page `scale` times larger."""
    x, y, w, h = box
    return (int(x * scale), int(y * scale), max(1, round(w * scale)), max(1, round(h * scale)))


def find_digit(pixels: np.ndarray, scale: float = 1.0) -> Digit:
    """The digit on a page: grey (h, w) or colour (h, w, 3) pixels on the 0-255 scale,
    `scale` original pixels per given pixel. Raises `ImageError` when there is none.

    A mark shaped like no digit (`refuse_non_digit`) is no digit found. Coarse to fine: a
    digit found small on a page reduced for the analysis is found again on a window around
    it at the page's own resolution (`_refined`)."""
    pixels = paper_only(np.asarray(pixels))
    page, factor = _bounded(pixels)
    ink, box = _find_on(page)
    refuse_non_digit(ink >= INKED * 255.0, box, page.shape[:2], pixels=page)
    if factor >= REFINE_GAIN and max(box[2:]) < REFINE_BELOW * ANALYSIS_SIDE:
        refined = _refined(pixels, scaled_box(box, factor))
        if refined is not None:
            return Digit(ink=refined[0], box=scaled_box(refined[1], scale))
    return Digit(ink=ink, box=scaled_box(box, scale * factor))


def _refined(pixels: np.ndarray, box: Box) -> tuple[np.ndarray, Box] | None:
    """The digit found again on a window `REFINE_WINDOW` times its size around its `box`
    (in `pixels`), and its box in `pixels`; None when the window shows no digit."""
    x, y, w, h = box
    side = max(REFINE_WINDOW * max(w, h), 2 * MIN_LINE_SIDE)
    top = _window_start(y + h / 2, side, pixels.shape[0])
    left = _window_start(x + w / 2, side, pixels.shape[1])
    window, factor = _bounded(pixels[top:top + round(side), left:left + round(side)])
    try:
        ink, (wx, wy, ww, wh) = _find_on(window)
    except ImageError:
        return None
    wx, wy, ww, wh = scaled_box((wx, wy, ww, wh), factor)
    return ink, (left + wx, top + wy, ww, wh)


def _window_start(centre: float, side: float, length: int) -> int:
    """Where a window `side` long centred on `centre` starts, moved inside `0..length`."""
    return int(max(0, min(length - side, centre - side / 2)))


def _find_on(page: np.ndarray) -> tuple[np.ndarray, Box]:
    """`find_digit` on a page at most `ANALYSIS_SIDE` long: the digit's ink, cropped, and its
    box in the page's pixels."""
    ink = ndimage.uniform_filter(ink_against_paper(page, clip=False), size=3)  # noise, grain
    threshold, floor = ink_threshold(ink)
    small = max(ink.shape) < TRACE_BELOW
    if small:  # a small grey scan: faint strokes are traced on a smoother copy (below)
        faint = ndimage.uniform_filter(ink, size=3)
        faint_level = max(noise_level(faint), MIN_INK / 2)
    ink = np.clip(ink, 0.0, 1.0, out=ink)
    # Strokes and lines are traced down to fainter ink (hysteresis): a line that fades
    # (aliasing) stays whole, a stroke under a glare stays joined to the rest.
    level = max(floor, threshold / 2)
    mask = ink >= level
    traced = [ndimage.uniform_filter1d(ink, LINE_TRACE, axis=axis) for axis in (1, 0)]
    # Averaged along a line, the paper's noise drops by half or more: fainter is still ink.
    lines = printed_lines(mask, *(t >= TRACE_LEVEL * level for t in traced), ink=ink)
    kept = digit_components(mask & ~lines, ink, threshold, lines,
                            colour=page if page.ndim == 3 else None)
    core = kept & (ink >= threshold)
    if small:
        traced_faint = _traced(kept, (faint >= faint_level) & ~near_lines(lines))
        if traced_faint is not None:
            core |= traced_faint & ~kept
            kept = traced_faint
    rows, cols = extent(core if core.any() else kept)
    near = extremes.maximum_filter(kept.view(np.uint8), size=3).astype(bool) & ~lines
    crop = even_strokes((ink * near)[rows, cols], threshold) * np.float32(255.0)
    box = (cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
    return crop.astype(np.float32), box


def _traced(digit: np.ndarray, faint: np.ndarray) -> np.ndarray | None:
    """The digit with the faint ink connected to it (hysteresis: a 9's loop drawn with a
    thin pen, continuing its stem), or None when that faint ink is no stroke but the paper
    (it spreads to more than `FAINT_SPREAD` times the digit's pixels)."""
    traced = hysteresis(faint, digit)
    if np.count_nonzero(traced) > FAINT_SPREAD * np.count_nonzero(digit):
        return None
    return traced


def hysteresis(weak: np.ndarray, sure: np.ndarray) -> np.ndarray:
    """The 8-connected components of `weak | sure` that hold some of `sure` (hysteresis
    thresholding: fainter ink kept where it continues surer ink)."""
    labels, count = ndimage.label(weak | sure, structure=np.ones((3, 3), dtype=bool))
    touched = np.zeros(count + 1, dtype=bool)
    touched[labels[sure]] = True
    touched[0] = False
    return touched[labels]


def even_strokes(ink: np.ndarray, threshold: float) -> np.ndarray:
    """Ink relative to the strongest ink around it: a stroke made faint by a glare or a
    lighter hand counts as much as the rest of the digit."""
    window = max(3, max(ink.shape) // 4)
    # (the square's maximum as its two 1-D passes, as `maximum_filter` makes it: without its
    # set-up, which costs as much on a digit-sized piece)
    local = ndimage.maximum_filter1d(ink, window, axis=0, mode="constant")
    local = ndimage.maximum_filter1d(local, window, axis=1, mode="constant")
    return np.clip(ink / np.maximum(local, threshold), 0.0, 1.0)


def _bounded(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """The page at most `ANALYSIS_SIDE` px long, and the scale back (given pixels per
    returned pixel). Box-resampled to that side exactly: a whole-factor reduction would
    leave a 1,000-px page at 334 px and lose the strokes of a small digit."""
    h, w = pixels.shape[:2]
    if max(h, w) <= ANALYSIS_SIDE:
        return pixels, 1.0
    factor = max(h, w) / ANALYSIS_SIDE
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    if pixels.ndim == 2 or pixels.dtype == np.uint8:  # grey (L or F) or RGB: one call
        planes = [pixels]
    else:
        planes = [pixels[..., c] for c in range(pixels.shape[2])]
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(p)).resize(size, Image.Resampling.BOX))
           for p in planes]
    return (out[0] if len(out) == 1 else np.stack(out, axis=2)), factor
