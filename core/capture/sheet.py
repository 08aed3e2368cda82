"""Step 0 of the capture front-end: a sheet of paper photographed lying on a darker surface
(a desk, a table, a lap) is the page; the surface around it is painted over in the paper's
colour before anything else looks at the page.

Left as it is, the surface spoils every later step: when it covers most of the frame it is
taken for the ground of light marks and the page is turned around (`ink._light_on_dark`),
and where it meets the paper the step in brightness is a long dark stroke (read as a 1) or
the paper's estimate bleeds into the writing. A document scanner finds the page first;
so does this, on a sample of the page's pixels: the brightest broad region (Otsu's
threshold), its holes (the writing) filled, is a sheet when it looks like one and nothing
else does:

- it covers `MIN_SHEET` to `MAX_SHEET` of the frame (more: the page fills the photo);
- it is a rectangle, turned or not (`SHEET_RECT`), with blank paper on it (`BLANK_WIDE`),
  not too much written (`WRITTEN`), and broad (`SHEET_WIDE`): a light digit on a dark
  ground (a blackboard, an enlarged MNIST image) is no rectangle, or its strokes leave no
  blank stretch that wide, or its loops are too much of it, or it is a bar;
- the surface around it is much darker (`GROUND_CONTRAST`), broad (`GROUND_WIDE`) and
  along the frame (`GROUND_BORDER`): a dark digit reaching the frame's edge is no surface;
- it meets the surface at a sharp edge (`SHARP_EDGE`), and nothing is written on the
  surface (`NO_MARKS`): the shaded part of a page half in shadow is paper, not a desk.

Measured on MNIST's 10,000 test digits enlarged 10 times, light on dark and dark on light:
none is taken for a sheet; on the evaluation sets' pages without a desk, no number page and
1 of 1,400 captures (docs/capture.md "a sheet photographed on a desk").
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

SHEET_SIDE = 128
"""The sheet is looked for on every n-th pixel of the page, about this many along its
longest side."""
MIN_SHEET, MAX_SHEET = 0.05, 0.9
"""A sheet covers at least this fraction of the frame, and at most this one (beyond, the
surface shows only in slivers, which the later steps take for the frame's edge)."""
SHEET_RECT = 0.9
"""A sheet fills at least this fraction of the smallest rectangle around it, at any angle
(a photographed sheet: 0.95-1; a light digit's outline, filled: a 0 0.79, at most 0.96)..."""
BLANK_WIDE = 0.07
"""...and some point of its paper lies at least this fraction of the frame's shorter side
from any ink or edge (a light digit's strokes: 0.05 at the median, 0.12 at the 95th
percentile of the enlarged MNIST digits; such a one is no rectangle)..."""
WRITTEN = 0.2
"""...and at most this fraction of it is written on (the numbers and digits on desks
measured: at most 0.2; a light 0's loop, filled: up to 0.6)..."""
SHEET_WIDE = 0.12
"""...and it is broad: some point of it lies this fraction of the frame's shorter side from
its edge (a sheet a quarter of the frame high: 0.125; a light 1 on a dark ground, a bright
bar with nothing written on it, less)."""
GROUND_CONTRAST = 0.6
"""The surface around a sheet is at most this fraction of the paper's brightness (a brown
desk: 0.35-0.4; a page's own shadow rarely goes that dark)..."""
GROUND_SHARE = 0.8
"""...over at least this fraction of the frame outside the sheet..."""
GROUND_WIDE = 0.1
"""...reaches this fraction of the frame's shorter side from the sheet somewhere..."""
GROUND_BORDER = 0.15
"""...and lies along at least this fraction of the frame's edge."""
SHARP_EDGE = 0.2
"""A sheet's edge is sharp: two sampled pixels beyond it the surface is within this fraction
of the sheet's contrast of its own level (a desk: 0.1 at most; the soft edge of a shadow
across a page: 0.35 and more)..."""
MARK_DEPTH, NO_MARKS = 0.25, 0.002
"""...and nothing is written on the surface: at most `NO_MARKS` of it is darker than its level
by `MARK_DEPTH` of the contrast (on a page half in a hard shadow, the digit and the rules
in the shadow are)."""
EDGE_BAND = 1
"""The sheet's edge (this many sampled pixels of it, where paper and surface mix) is
painted over too."""


def paper_only(pixels: np.ndarray) -> np.ndarray:
    """`pixels` (grey (h, w) or colour (h, w, 3), 0-255) with the surface around a sheet of
    paper painted in the paper's colour (a copy); the same array when no sheet lies on a
    darker surface."""
    h, w = pixels.shape[:2]
    step = max(1, -(-max(h, w) // SHEET_SIDE))
    sample = pixels[::step, ::step]  # (a sheet and a surface are broad: no need to average)
    grey = (sample.mean(axis=2) if sample.ndim == 3 else sample).astype(np.float32)
    bright = grey >= _otsu(grey)
    sheet = _sheet(grey, bright)
    if sheet is None:
        return pixels
    keep = ndimage.binary_erosion(sheet, iterations=EDGE_BAND)
    if not (keep & bright).any():  # (a sheet a few pixels across: nothing to read on it)
        return pixels
    paper = np.median(sample[keep & bright], axis=0)
    grown = Image.fromarray(keep.view(np.uint8) * np.uint8(255)).resize(
        (w, h), Image.Resampling.NEAREST)
    if pixels.dtype == np.uint8:  # (Pillow's composite: a tenth of numpy's masked copy)
        page = Image.fromarray(pixels)
        colour = tuple(int(c) for c in np.atleast_1d(paper))
        surface = Image.new(page.mode, page.size, colour if len(colour) > 1 else colour[0])
        return np.asarray(Image.composite(page, surface, grown))
    inside = np.asarray(grown) > 0
    return np.where(inside[..., None] if pixels.ndim == 3 else inside, pixels,
                    paper.astype(pixels.dtype))


def _sheet(grey: np.ndarray, bright: np.ndarray) -> np.ndarray | None:
    """The sheet on a grey sample of the page (bool, its holes filled), or None; `bright`:
    the sample's pixels above Otsu's threshold."""
    if np.count_nonzero(bright) > MAX_SHEET * bright.size:  # (most pages: paper fills them)
        return None
    labels, count = ndimage.label(bright)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    sheet = ndimage.binary_fill_holes(labels == sizes.argmax())
    area = np.count_nonzero(sheet)
    if not MIN_SHEET * sheet.size <= area <= MAX_SHEET * sheet.size:
        return None
    paper = float(np.median(grey[sheet & bright]))
    ground = grey[~sheet]
    edge = np.concatenate((sheet[0], sheet[-1], sheet[:, 0], sheet[:, -1]))
    if (np.count_nonzero(ground <= GROUND_CONTRAST * paper) < GROUND_SHARE * ground.size
            or np.count_nonzero(~edge) < GROUND_BORDER * edge.size
            or np.count_nonzero(sheet & ~bright) > WRITTEN * area
            or area < SHEET_RECT * _rectangle_area(sheet)):
        return None
    level = float(np.median(ground))
    contrast = paper - level
    ring = ndimage.binary_dilation(sheet, iterations=2) & ~ndimage.binary_dilation(sheet)
    if (float(np.median(grey[ring])) > level + SHARP_EDGE * contrast
            or np.count_nonzero(ground < level - MARK_DEPTH * contrast)
            > NO_MARKS * ground.size):
        return None
    side = min(grey.shape)
    if (ndimage.distance_transform_edt(~sheet).max() < GROUND_WIDE * side
            or ndimage.distance_transform_edt(sheet).max() < SHEET_WIDE * side
            or ndimage.distance_transform_edt(bright & sheet).max() < BLANK_WIDE * side):
        return None
    return sheet


def _rectangle_area(region: np.ndarray) -> float:
    """The area of the smallest rectangle, at any angle, holding the pixels of `region`:
    one of its sides lies along an edge of their convex hull."""
    outline = region & ~ndimage.binary_erosion(region)  # (the hull's corners are on it)
    points = np.argwhere(outline).astype(np.float64)
    try:
        corners = points[ConvexHull(points).vertices]
    except QhullError:  # a line of pixels, or fewer than three
        return float(len(points))
    best = np.inf
    for a, b in zip(corners, np.roll(corners, 1, axis=0), strict=True):
        along = (b - a) / np.hypot(*(b - a))
        across = np.array([-along[1], along[0]])
        u, v = corners @ along, corners @ across
        best = min(best, (np.ptp(u) + 1.0) * (np.ptp(v) + 1.0))  # (+1: pixels, not points)
    return float(best)


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of 0-255 values: the level that best parts them in two classes
    (the greatest variance between the classes, over a 256-bin histogram); infinite, above
    them all, when they are all alike."""
    counts, edges = np.histogram(values, bins=256, range=(0.0, 256.0))
    weight = np.cumsum(counts).astype(np.float64)
    mass = np.cumsum(counts * edges[:-1])
    total, total_mass = weight[-1], mass[-1]
    below, above = weight[:-1], total - weight[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * below / total - mass[:-1]) ** 2 / (below * above)
    if not np.isfinite(between).any():  # one value only: no two classes
        return float("inf")
    return float(edges[int(np.nanargmax(between)) + 1])
