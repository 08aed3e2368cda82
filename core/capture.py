"""Finding the digit on a photographed or scanned page, before the MNIST-style normalisation.

A document-imaging front-end in four steps, each a pure function on arrays:

1. `ink_against_paper`: the paper's colour is estimated around every pixel (a grey closing
   on a coarse copy: it removes strokes but keeps shadows, gradients and vignetting) and
   divided out; ink is how much a pixel absorbs in its most absorbed colour channel, so
   blue, red or black ink, pencil and marker all count. Light ink on a dark ground
   (a blackboard, MNIST itself) is turned around first.
2. `printed_lines`: ruled lines, margins, grid lines and form-box borders are long, thin,
   straight runs across a good part of the page. They are found by a morphological opening
   with a long line element along the page's own angle (found from projection profiles,
   so a turned page still works); only thin runs are removed, and the ink of strokes that
   cross a line is put back.
3. `digit_components`: the ink's connected components; specks and marks touching the frame
   border are dropped, the component with most ink above the ink level is the digit, and
   the pieces of a broken stroke near it (about as dark: the same pen) join it. A digit
   written across a shadow's edge is taken out of the shadow's band. Nothing
   left: "no digit found"; another digit-sized cluster beside it: "several digits found".
4. `find_digit`: the three steps above on a page decoded at a bounded size (and, for a
   digit found small on a page reduced for them, again on a window around it at the page's
   own resolution); it returns the digit's ink (light on black, cropped) for
   `core.imaging.normalise`, and its box in the pixels of the upright upload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.sparse.csgraph import connected_components

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
COARSE_SIDE = 64
"""The paper's colour is estimated on a copy about this size..."""
PAPER_WINDOW = 0.2
"""...with a closing this fraction of its longest side: wider than any stroke."""
DARK_GROUND = 0.4
"""Light marks need a dark ground (a blackboard, a negative scan, MNIST itself): a ground
brighter than this fraction of full scale is paper, however shadowed, and a brighter
region on it is lit paper, not chalk."""
MARKS_RATIO = 1.5
"""...and on a dark ground, marks are dark when dark marks narrower than the paper window
stand out this many times more than light ones (a page in deep shadow with a lit patch)."""
NOISE_SIGMAS = 5.0
"""Ink must stand this many noise deviations above the paper..."""
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
NOISE_BINS = 1000
"""(the paper's level and noise are read from a histogram of the ink with this many bins
over [-0.25, 0.75])"""
MIN_INK = 0.06
"""...and absorb at least this fraction of the light..."""
PEAK_FRACTION = 0.25
"""...and at least this fraction of the page's darkest ink."""
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
LINE_THICKNESS = 0.03
"""...(at least 3 px)."""
MIN_LINE_SIDE = 96
"""Pages smaller than this (thumbnails, low-resolution scans) have no printed lines to remove."""
STROKE_CONTRAST = 1.6
"""Ink this many times darker than the printed lines' (plus `MIN_INK`) is a stroke."""
LINE_TRACE = 9
"""Lines are traced on the ink averaged over this many pixels along them..."""
TRACE_LEVEL = 0.6
"""...down to this fraction of the ink level."""
MAX_TILT = 10.0
"""Printed lines are looked for up to this many degrees off horizontal and vertical."""
EDGE = 2
"""Components within this many pixels of the frame touch it (a finger, the table, the
page's own edge); on scans smaller than `MIN_LINE_SIDE`, where the digit nearly fills the
frame and 2 px are a twentieth of it, only those reaching the frame's outermost pixels."""
FRAME_SPAN = 0.9
"""...and so do components spanning this fraction of its height or width."""
SPECK_FRACTION = 0.05
"""Components with less ink than this fraction of the largest one are specks."""
MIN_DIGIT = 0.03
"""A digit is at least this fraction of the page's longest side tall or wide (and 5 px)."""
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

    Coarse to fine: a digit found small on a page reduced for the analysis is found again
    on a window around it at the page's own resolution (`_refined`)."""
    pixels = np.asarray(pixels)
    page, factor = _bounded(pixels)
    ink, box = _find_on(page)
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
    kept = digit_components(mask & ~lines, ink, threshold, lines)
    core = kept & (ink >= threshold)
    if small:
        traced_faint = _traced(kept, (faint >= faint_level) & ~_near(lines))
        if traced_faint is not None:
            core |= traced_faint & ~kept
            kept = traced_faint
    rows, cols = extent(core if core.any() else kept)
    near = ndimage.maximum_filter(kept.view(np.uint8), size=3).astype(bool) & ~lines
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
    local = ndimage.maximum_filter(ink, size=window, mode="constant")
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


def reduce_blocks(values: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks (Pillow's `reduce`: RGB in one call, the same
    numbers as channel by channel; other stacks per channel)."""
    if values.ndim == 2 or (values.dtype == np.uint8 and values.shape[2] == 3):
        return np.asarray(Image.fromarray(np.ascontiguousarray(values)).reduce(factor))
    planes = [values[..., c] for c in range(values.shape[2])]
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(p)).reduce(factor)) for p in planes]
    return np.stack(out, axis=2)


# --- 1. illumination and ink ---------------------------------------------------------------

def ink_against_paper(page: np.ndarray, clip: bool = True) -> np.ndarray:
    """Ink in [0, 1] (float32, same height and width): the fraction of light absorbed
    against the local paper, in the most absorbed colour channel (below 0 where the page
    is brighter than its paper, unless `clip`)."""
    stack = page[None] if page.ndim == 2 else np.moveaxis(page, 2, 0)  # (channels, h, w)
    if _light_on_dark(stack):
        stack = 255 - stack if stack.dtype == np.uint8 else 255.0 - stack
    ink = None
    for plane, paper in zip(stack, _papers(stack), strict=True):
        absorbed = np.maximum(paper, 1.0, out=paper)
        np.divide(plane, absorbed, out=absorbed)
        np.subtract(1.0, absorbed, out=absorbed)
        ink = absorbed if ink is None else np.maximum(ink, absorbed, out=ink)
    return np.clip(ink, 0.0 if clip else None, 1.0, out=ink)


def _light_on_dark(planes: np.ndarray) -> bool:
    """Whether the marks are lighter than their ground: the brightness's departures from
    its local mean reach further up than down from the ground's own departure (their
    median: the ground is most of the page), in the colour channel where the marks depart
    most (a red marker is faint in the red channel, where a glare would win). The mean is
    taken over half the page, so that a bold digit filling a small scan does not pull it
    to the ink's level. The ground must also be dark (`DARK_GROUND`), and what departs
    upwards must be marks (`MARKS_RATIO`): on a photo mostly in shadow, the lit part of
    the page departs upwards most. `planes`: (channels, h, w), all channels measured at
    once."""
    step = max(1, max(planes.shape[1:]) // 128)
    sample = planes[:, ::step, ::step].astype(np.float32)
    size = max(3, max(sample.shape[1:]) // 2)
    local = ndimage.uniform_filter(sample, size=(1, size, size), mode="nearest")
    # (sorted first: numpy's SIMD sort and a percentile of sorted rows cost less than the
    # percentile's own partition, for the same values)
    departures = np.sort((sample - local).reshape(len(sample), -1), axis=1)
    low, ground, high = np.percentile(departures, (0.5, 50.0, 99.5), axis=1)
    up, down = high - ground, ground - low
    best = int(np.argmax(np.maximum(up, down)))  # on a tie, the first channel
    dark = float(np.median(sample[best])) < DARK_GROUND * 255.0
    if not (up[best] > down[best] and dark):
        return False
    # What departs upwards must be marks, not a lit part of a page in shadow: light marks
    # narrower than the paper window stand out of an opening as much as dark marks out of
    # a closing (a light digit's loops are dark marks too); a lit region is wider than it.
    plane = sample[best]
    window = _paper_window(plane.shape)
    light = np.percentile(plane - ndimage.grey_opening(plane, size=window), 99.5)
    dark_marks = np.percentile(ndimage.grey_closing(plane, size=window) - plane, 99.5)
    return bool(dark_marks < MARKS_RATIO * light)


def _paper_window(shape: tuple[int, ...]) -> int:
    """The side of the paper's window on an image of `shape` (odd): `PAPER_WINDOW` of its
    longest side, at least 3 px."""
    return max(3, round(PAPER_WINDOW * max(shape)) | 1)


def estimate_paper(plane: np.ndarray) -> np.ndarray:
    """The paper's brightness around each pixel of one channel (float32, same shape): a
    grey closing on a coarse copy, which fills in dark strokes narrower than its window
    and keeps what is wider (a shadow, a gradient, vignetting), smoothed and brought back
    to full size."""
    return _papers(plane[None])[0]


def _papers(planes: np.ndarray) -> list[np.ndarray]:
    """`estimate_paper` of each channel of a (channels, h, w) stack, the coarse work done
    on all channels at once."""
    _, h, w = planes.shape
    factor = max(1, max(h, w) // COARSE_SIDE)
    if factor > 1:
        coarse = reduce_blocks(np.moveaxis(planes, 0, 2), factor)
        coarse = coarse[None] if coarse.ndim == 2 else np.moveaxis(coarse, 2, 0)
    else:
        coarse = planes
    coarse = coarse.astype(np.float32)
    window = _paper_window(coarse.shape[1:])
    # The page is extended by its edge values *before* the closing: a closing padded by
    # its own (dilated) values brightens the paper within half a window of the frame, and
    # a vignette or a shadow reaching the edge would then be taken for ink.
    pad = window // 2 + 1
    padded = np.pad(coarse, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    paper = ndimage.grey_closing(padded, size=(1, window, window), mode="nearest")
    paper = ndimage.uniform_filter(paper, size=(1, 3, 3), mode="nearest")[:, pad:-pad, pad:-pad]
    if paper.shape[1:] == (h, w):
        return list(paper)
    return [np.array(Image.fromarray(p).resize((w, h), Image.Resampling.BILINEAR))
            for p in paper]


def ink_threshold(ink: np.ndarray, noise: float | None = None) -> tuple[float, float]:
    """The level of ink: above the paper's noise and not negligible against the page's
    darkest ink (of the 3x3-smoothed, unclipped `ink`); and the noise level alone, at least
    `MIN_INK`. `noise`: the page's `noise_level`, when the caller has it already."""
    floor = max(noise_level(ink) if noise is None else noise, MIN_INK)
    return max(floor, PEAK_FRACTION * float(ink.max())), floor


def noise_level(values: np.ndarray) -> float:
    """What the paper's noise reaches: the paper's level plus `NOISE_SIGMAS` deviations.
    The paper is the densest level of the page (the histogram's mode), and its deviation
    is read from the half width at half height of that peak on the side ink never reaches:
    a dense grid or a page mostly covered by lines moves the median and widens a
    percentile spread, not the paper's own peak."""
    step = max(1, max(values.shape) // 128)
    sample = values[::step, ::step].ravel()
    counts, edges = np.histogram(sample, bins=NOISE_BINS, range=(-0.25, 0.75))
    counts = np.convolve(counts, np.ones(3), mode="same")  # a little smoothing
    mode = int(np.argmax(counts))
    below = np.flatnonzero(counts[:mode] < counts[mode] / 2)
    width = (mode - below[-1]) if below.size else 1
    centres = (edges[:-1] + edges[1:]) / 2
    sigma = width * (edges[1] - edges[0]) / 1.1774  # half width at half height of a normal
    return float(centres[mode] + NOISE_SIGMAS * sigma)


# --- 2. printed lines ----------------------------------------------------------------------

def printed_lines(mask: np.ndarray, rows_mask: np.ndarray | None = None,
                  cols_mask: np.ndarray | None = None,
                  ink: np.ndarray | None = None, side: int | None = None) -> np.ndarray:
    """The pixels of printed lines (ruled, margin, grid, box borders) in an ink mask: thin
    runs at least `LINE_FRACTION` of the page long, horizontal or vertical within
    `MAX_TILT` degrees. Pixels where a stroke crosses a line are not included. Lines are
    traced on `rows_mask` and `cols_mask` when given (the ink averaged along each
    direction: a faint dotted line is whole there). Given the `ink`, pixels much darker
    than the lines' own ink are a stroke lying along a line, not the line. `side`, when
    given, is the length lines are measured against instead of the page's shorter side
    and width (a strip of a longer page, seen as if it were square: a stroke as tall as
    the strip is no line)."""
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
    along_rows, across_rows = _long_runs(rows_mask, thin_rows, length, side)
    along_cols, across_cols = _long_runs(cols_mask.T, thin_cols.T, length, side)
    along_cols, across_cols = along_cols.T, across_cols.T
    # A long run is printed if its line crosses most of the page (ruled lines, margins,
    # grids; a line alone must cross nearly all of it), or if it meets a thin long run the
    # other way, being thin itself (a box's corners), or the end of a thin line the other
    # way that crosses the page (the side of a box as wide as half the page): a long stroke
    # of a digit, such as a tall 1 on a small page, does none of these (it crosses ruled
    # lines, it does not end them), nor does a 7's thin bar alone across a small page.
    across_rows, thin_across_rows, row_lines = _thin_across(across_rows, thin_rows, length, 1)
    across_cols, thin_across_cols, col_lines = _thin_across(across_cols, thin_cols, length, 0)
    if row_lines + col_lines == 1:  # a line alone: a stroke unless it crosses the page
        stroke = _short(thin_across_rows, 1) | _short(thin_across_cols, 0)
        across_rows, thin_across_rows = across_rows & ~stroke, thin_across_rows & ~stroke
        across_cols, thin_across_cols = across_cols & ~stroke, thin_across_cols & ~stroke
    spanning = across_rows | across_cols
    runs_rows, runs_cols = along_rows & ~spanning, along_cols & ~spanning
    labels, count = ndimage.label(runs_rows | runs_cols, structure=np.ones((3, 3), dtype=bool))
    printed = np.zeros(count + 1, dtype=bool)
    corners = runs_rows & _near(runs_cols)
    if corners.any():  # (on most pages no run meets another)
        corners = _thin_runs(runs_rows, thin_rows) & _near(_thin_runs(runs_cols, thin_cols))
    printed[labels[corners]] = True
    printed[labels[_meeting_ends(runs_rows, thin_across_cols, axis=0)]] = True
    printed[labels[_meeting_ends(runs_cols, thin_across_rows, axis=1)]] = True
    printed[0] = False
    printed_runs = printed[labels]
    lines_rows = (across_rows | (printed_runs & along_rows)) & thin_rows & mask
    lines_cols = (across_cols | (printed_runs & along_cols)) & thin_cols & mask
    if ink is not None and (lines_rows | lines_cols).any():
        # Ink much darker than the printed lines' own ink lies on a line: a stroke along it.
        traced = (across_rows | across_cols | printed_runs) & (rows_mask | cols_mask)
        level = float(np.median(np.sort(ink[traced])))  # (sorted first: as fast, see above)
        darker = ink > STROKE_CONTRAST * level + MIN_INK
        lines_rows &= ~darker
        lines_cols &= ~darker
    lines = lines_rows | lines_cols
    # Where a stroke crosses a line, the line's pixels between its two sides are ink.
    rest = mask & ~lines
    crossed = (_closing(rest, _gap(lines_rows, 0), axis=0) & lines_rows & ~lines_cols) | (
        _closing(rest, _gap(lines_cols, 1), axis=1) & lines_cols & ~lines_rows)
    return _unless_short(lines & ~crossed, length)


def _thin_across(across: np.ndarray, thin: np.ndarray, length: int,
                 axis: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The pieces of `across` (lines across the page along `axis`, 1: rows) that are lines
    at all (`FRINGE_SHARE`); those of them at least `length` long and mostly thin
    (`THIN_SHARE`: a bold stroke's are no printed line); and how many of those there are."""
    if not across.any():
        return across, across, 0
    labels, count = ndimage.label(across, structure=np.ones((3, 3), dtype=bool))
    spans = np.array([0] + [p[axis].stop - p[axis].start for p in ndimage.find_objects(labels)])
    lines, mostly = _mostly(labels, count, thin & across, (FRINGE_SHARE, THIN_SHARE))
    keep = mostly & (spans >= length)
    return lines[labels], keep[labels], int(np.count_nonzero(keep))


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


def _near(mask: np.ndarray) -> np.ndarray:
    """Pixels within 2 px of `mask` (a 5x5 neighbourhood)."""
    return ndimage.maximum_filter(mask.view(np.uint8), size=5).astype(bool)


def _meeting_ends(runs: np.ndarray, lines: np.ndarray, axis: int) -> np.ndarray:
    """The pixels of `runs` within 2 px of an end of `lines` (running along `axis`): the
    pixels of each line (8-connected piece of `lines`) within `LINE_END` px of its first or
    last position along it. Worked out around the runs only (a page's ruled lines are
    long, its runs few): a line leaving that neighbourhood along its length has no end
    there, unless it leaves the page."""
    ys, xs = np.nonzero(runs)
    if ys.size == 0:
        return np.zeros_like(runs)
    reach = 2 + LINE_END + 1
    window = (slice(max(0, int(ys.min()) - reach), int(ys.max()) + reach + 1),
              slice(max(0, int(xs.min()) - reach), int(xs.max()) + reach + 1))
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
    out[window] = runs[window] & _near(ends)
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
    for bridge in ((3, gap), (gap, 3)):  # along rows, then along columns
        joined = ndimage.maximum_filter(lines.view(np.uint8), size=bridge)  # separable: fast
        pieces = ndimage.find_objects(ndimage.label(joined)[0])
        if any(max(r.stop - r.start, c.stop - c.start) - gap >= length for r, c in pieces):
            return lines
    return np.zeros_like(lines)


def _thin(mask: np.ndarray, thickness: int) -> np.ndarray:
    """Ink in no square as wide as a printed line is thick (the crossing of two thin lines
    is thin too; a bold stroke is not)."""
    size = thickness + 1
    square = ndimage.maximum_filter(ndimage.minimum_filter(mask.view(np.uint8), size), size)
    return mask & ~square.astype(bool)


def _gap(lines: np.ndarray, axis: int) -> int:
    """A little more than the lines' thickness across `axis` (their area over their runs),
    with the +-2 px band they were traced in."""
    starts = np.count_nonzero(np.diff(lines.view(np.int8), axis=axis, prepend=0) == 1)
    return int(2 * round(np.count_nonzero(lines) / max(starts, 1) / 2) + 7)


def _long_runs(mask: np.ndarray, thin: np.ndarray, length: int,
               span: int | None = None) -> tuple[np.ndarray, np.ndarray]:
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
    angle = _line_angle(thin, length)
    if angle == 0.0:  # scans and level photos: no shear needed
        band = ndimage.maximum_filter1d(mask.view(np.uint8), 5, axis=0)
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
    band = ndimage.maximum_filter1d(sheared, 5, axis=0)
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
    runs = _opening(some, length, axis=1)
    spanning[rows] = runs & (runs.sum(axis=1) >= SPAN_FRACTION * width)[:, None]
    longer[rows] = _opening(some, round(length * MEET_FRACTION / LINE_FRACTION), axis=1) & runs
    return spanning, longer


def _line_angle(thin: np.ndarray, length: int) -> float:
    """The tilt (degrees) at which rows of thin ink are most concentrated: the angle of the
    page's printed lines (projection profiles, as skew detectors do)."""
    ys, xs = np.nonzero(thin)
    if ys.size < length:
        return 0.0
    if ys.size > 8_000:
        # A random sample (fixed seed): evenly spaced picks in raster order alias with the
        # period of ruled lines or a grid and can favour a wrong angle.
        pick = np.random.default_rng(0).integers(0, ys.size, 8_000)
        ys, xs = ys[pick], xs[pick]
    ys = ys + int(np.ceil(thin.shape[1] * np.tan(np.radians(MAX_TILT)))) + 1
    # All angles' profiles in one bincount (each angle's rows offset past the last's).
    angles = sorted(np.arange(-MAX_TILT, MAX_TILT + 0.01, 1.0), key=abs)
    tans = np.array([np.tan(np.radians(angle)) for angle in angles])
    shifted = ys[None, :] - np.round(xs[None, :] * tans[:, None]).astype(np.intp)
    size = int(shifted.max()) + 1
    shifted += np.arange(len(angles))[:, None] * size
    profiles = np.bincount(shifted.ravel(), minlength=len(angles) * size).reshape(-1, size)
    profiles = profiles.astype(np.float64)
    scores = np.einsum("ij,ij->i", profiles, profiles)
    return float(angles[int(np.argmax(scores))])  # on a tie, the angle nearer 0 (first)


def _opening(mask: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Binary opening with a line element (van Herk min/max filters: O(1) per pixel)."""
    values = mask.view(np.uint8) if mask.dtype == bool else mask
    eroded = ndimage.minimum_filter1d(values, size, axis=axis, mode="constant", cval=0)
    return ndimage.maximum_filter1d(eroded, size, axis=axis, mode="constant", cval=0).astype(bool)


def _closing(mask: np.ndarray, size: int, axis: int) -> np.ndarray:
    values = mask.view(np.uint8)
    dilated = ndimage.maximum_filter1d(values, size, axis=axis, mode="constant", cval=0)
    return ndimage.minimum_filter1d(dilated, size, axis=axis, mode="constant", cval=1).astype(bool)


# --- 3. components -------------------------------------------------------------------------

def digit_components(mask: np.ndarray, ink: np.ndarray, strong: float = 0.0,
                     lines: np.ndarray | None = None) -> np.ndarray:
    """The digit's pixels in an ink mask: its main cluster of components, specks and marks
    touching the frame left out; only components reaching `strong` ink count; thin straight
    pieces lying along the printed `lines` taken out of the mask are what is left of them.
    Raises `ImageError` for no digit or several. When nothing but a band of shading
    reaching the frame is left, the digit is looked for again without the band's faint
    ink: a digit written across a shadow's edge is one component with the shadow."""
    kept, band = _digit_cluster(mask, ink, strong, lines)
    if band is None:
        return kept
    try:
        inside, _ = _digit_cluster(mask & ~band, ink, strong, lines)
    except ImageError:
        return kept
    rows, cols = extent(inside)
    box = np.array([[rows.start, cols.start, rows.stop, cols.stop]])
    return kept if at_frame(box, mask.shape, EDGE)[0] else inside


def _digit_cluster(mask: np.ndarray, ink: np.ndarray, strong: float,
                   lines: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """`digit_components` in one pass, and the faint ink of a band of shading when the digit
    chosen is one that reaches the frame (`_faint_band`), else None."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise ImageError("no digit found")
    index = np.arange(1, count + 1)
    mass = ndimage.sum_labels(ink, labels, index=index)
    above = ink >= strong
    strong_labels = labels[above]
    weak = np.bincount(strong_labels, minlength=count + 1)[1:] == 0
    boxes = np.array([(s[0].start, s[1].start, s[0].stop, s[1].stop)
                      for s in ndimage.find_objects(labels)], dtype=np.int64)
    h, w = mask.shape
    near = EDGE if max(h, w) >= MIN_LINE_SIDE else 0  # a small scan's digit nearly fills it
    # spanning the frame: a page's edge, a shadow's, the table (no digit is 90%)
    spanning = ((boxes[:, 2] - boxes[:, 0] >= FRAME_SPAN * h)
                | (boxes[:, 3] - boxes[:, 1] >= FRAME_SPAN * w))
    edge = at_frame(boxes, (h, w), near) | spanning
    if weak.all():
        raise ImageError("no digit found")
    # A digit the frame cuts (a tight crop) is still the digit when all inside the frame
    # is specks beside it, and it is no shading (a shadow's band, the page's edge).
    cut = (edge & ~spanning & ~weak
           & (SPECK_FRACTION * mass >= mass[~edge & ~weak].max(initial=0.0)))
    if cut.any():
        edge &= ~(cut & ~_shading(labels, count, mask, ink, cut))
    # Specks are small against the largest mark *inside* the frame: a dark corner or the
    # table at the edge must not turn the digit itself into a speck.
    inside = ~edge & ~weak
    candidate = mass >= SPECK_FRACTION * mass[inside if inside.any() else ~weak].max()
    if (candidate & inside).any():
        candidate &= ~edge
    # What the line finder left of a printed line (a doubled box border, a side that a
    # stroke touched) is a thin straight piece: never the digit when a mark is, and never
    # joined to it when it is longer than the digit found so far (a thin pen's long arc is
    # as thin: it joins once the rest of its loop has). On a page where the finder found
    # no line (`lines` given, empty) nothing is left of one: a fine pen's long stroke (a
    # 6's back, a 2's base) joins its digit however long it is.
    heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    length = np.maximum(heights, widths)
    pixels = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    rule = length >= RULE_ASPECT * pixels / length
    remnant = rule if lines is None or lines.any() else np.zeros_like(rule)
    if lines is not None:  # a sliver of a line: no mark, no digit's piece
        sliver = remnant & (length >= LINE_FRACTION * min(h, w))
        candidate &= ~_along_lines(labels, sliver, boxes, pixels, lines)
    # A dash of a line (its box as thin as a rule) along the lines joins no digit.
    dash = remnant & (RULE_ASPECT * np.minimum(heights, widths) <= length)
    mark = candidate & ~weak & ~(rule & (widths >= heights))
    # The digit is the mark with most ink *above the ink level*: a band of shaded paper
    # (a shadow next to a brighter surround, wider than the paper window) is large but
    # barely reaches the level; a stroke stands well above it.
    contrast = np.bincount(strong_labels, weights=ink[above] - strong, minlength=count + 1)[1:]
    # A faint digit is often in pieces (pencil grain, grid lines taken out of its strokes):
    # the digit is the cluster of marks with most of that ink, and its main piece the
    # cluster's piece with most.
    pool = mark if mark.any() else candidate & ~weak
    # A printed line taken out of a stroke leaves a gap no wider than the line.
    cluster, span = _cluster(boxes, pool, contrast, max(3.0, LINE_THICKNESS * max(h, w)))
    main = int(np.argmax(np.where(cluster, contrast, -1.0)))
    own = labels == main + 1
    typical = float(np.median(ink[own]))
    band = _faint_band(own, ink, typical, strong, max(h, w)) if near and edge[main] else None
    members = np.zeros(count, dtype=bool)
    members[main] = True
    box = boxes[main].copy()
    size = max(box[2] - box[0], box[3] - box[1])
    gap = JOIN_GAP * (span if size < FRAGMENT * span else size)  # pieces join at the digit's scale
    shading = _shading(labels, count, mask, ink, candidate)
    joinable = candidate & ~shading
    # A piece of the digit was written with the same pen: it is about as dark. Shading
    # next to the digit is not.
    darkest = np.zeros(count + 1, dtype=ink.dtype)
    np.maximum.at(darkest, labels[mask], ink[mask])
    joinable &= darkest[1:] >= JOIN_CONTRAST * typical
    for _ in range(2):  # join pieces near the digit (a detached bar, a broken loop)
        vgap, hgap = box_gaps(box, boxes)
        longer = remnant & (length > max(box[2] - box[0], box[3] - box[1], span))
        near = joinable & ~members & ~longer & (vgap <= gap) & (hgap <= gap)
        if lines is not None:  # each dash is looked at once
            joinable &= ~_along_lines(labels, near & dash, boxes, pixels, lines)
            near &= joinable
        if not near.any():
            break
        members |= near
        chosen = boxes[members]
        box = np.array([chosen[:, 0].min(), chosen[:, 1].min(), chosen[:, 2].max(),
                        chosen[:, 3].max()])
    height, width = box[2] - box[0], box[3] - box[1]
    if max(height, width) < max(5, MIN_DIGIT * max(h, w)):
        raise ImageError("no digit found")
    longer_rule = rule & (length > max(height, width))  # than the whole digit
    _refuse_other_digits(boxes, mass, candidate & ~members & ~longer_rule & ~shading, box,
                         float(mass[members].sum()))
    keep = np.zeros(count + 1, dtype=bool)
    keep[1:] = members
    return keep[labels], band


def _along_lines(labels: np.ndarray, which: np.ndarray, boxes: np.ndarray,
                 pixels: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Of the components in `which` (bool (count,)), those with `REMNANT_SHARE` of their
    pixels within 2 px of the printed `lines` (each looked at in its own box: few are)."""
    along = np.zeros_like(which)
    for i in np.flatnonzero(which):
        top, left, bottom, right = boxes[i]
        window = (slice(max(0, top - 2), bottom + 2), slice(max(0, left - 2), right + 2))
        beside = (labels[window] == i + 1) & _near(lines[window])
        along[i] = np.count_nonzero(beside) >= REMNANT_SHARE * pixels[i]
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
    wide = ndimage.minimum_filter(low.view(np.uint8), max(3, round(LINE_THICKNESS * side)))
    return low if wide.any() else None


def _shading(labels: np.ndarray, count: int, mask: np.ndarray, ink: np.ndarray,
             which: np.ndarray) -> np.ndarray:
    """Per component (bool (count,); measured only for those in `which`, the others
    False): whether it is shading, not a mark: at `SHADING_SOFT`
    of its edge pixels or more, the ink rises by less than the mask's level over
    `SHADING_EDGE` pixels (the spread of the ink in their 3x3 neighbourhood, over 2 px).
    Illumination varies smoothly; a pen's stroke has a sharp edge on every side, however
    faint or wide it is."""
    measured = np.concatenate(([False], which))[labels]
    edges = measured & ~ndimage.binary_erosion(mask, structure=np.ones((3, 3), dtype=bool),
                                               border_value=1)
    ys, xs = np.nonzero(edges)
    if ys.size == 0:
        return np.zeros(count, dtype=bool)
    level = float(ink[mask].min())
    padded = np.pad(ink, 1, mode="edge")
    around = np.stack([padded[ys + dy, xs + dx] for dy in range(3) for dx in range(3)])
    rise = around.max(axis=0) - around.min(axis=0)
    soft = rise < 2.0 * level / SHADING_EDGE
    owner = labels[ys, xs]
    total = np.bincount(owner, minlength=count + 1)[1:]
    softer = np.bincount(owner, weights=soft, minlength=count + 1)[1:]
    return softer >= SHADING_SOFT * np.maximum(total, 1)


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
