"""Step 1 of the capture front-end: the paper's colour estimated around every pixel and divided
out, and ink measured against it, in any colour, with the paper's own noise level."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from core import extremes

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
NOISE_BINS = 1000
"""(the paper's level and noise are read from a histogram of the ink with this many bins
over [-0.25, 0.75])"""
MIN_INK = 0.06
"""...and absorb at least this fraction of the light..."""
PEAK_FRACTION = 0.25
"""...and at least this fraction of the page's darkest ink."""


def reduce_blocks(values: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks (Pillow's `reduce`: RGB in one call, the same
    numbers as channel by channel; other stacks per channel)."""
    if values.ndim == 2 or (values.dtype == np.uint8 and values.shape[2] == 3):
        return np.asarray(Image.fromarray(np.ascontiguousarray(values)).reduce(factor))
    planes = [values[..., c] for c in range(values.shape[2])]
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(p)).reduce(factor)) for p in planes]
    return np.stack(out, axis=2)


def ink_against_paper(page: np.ndarray, clip: bool = True) -> np.ndarray:
    """Ink in [0, 1] (float32, same height and width): the fraction of light absorbed
    against the local paper, in the most absorbed colour channel (below 0 where the page
    is brighter than its paper, unless `clip`)."""
    stack = page[None] if page.ndim == 2 else np.moveaxis(page, 2, 0)  # (channels, h, w)
    if _light_on_dark(stack):
        stack = 255 - stack if stack.dtype == np.uint8 else 255.0 - stack
    # The most absorbed channel is the one least bright against its paper: the smallest
    # ratio, subtracted from 1 once (1 - x falls as x rises, rounded too: the same numbers).
    kept = None
    for plane, paper in zip(stack, _papers(stack), strict=True):
        ratio = np.maximum(paper, 1.0, out=paper)
        np.divide(plane, ratio, out=ratio)
        kept = ratio if kept is None else np.minimum(kept, ratio, out=kept)
    ink = np.subtract(1.0, kept, out=kept)
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
    if not up[best] > down[best]:  # (most pages: the ground's median is not needed)
        return False
    if not float(np.median(sample[best])) < DARK_GROUND * 255.0:  # not a dark ground
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
    # (a grey closing: the window is odd, so its dilation is this maximum filter)
    box = (1, window, window)
    paper = extremes.minimum_filter(extremes.maximum_filter(padded, box, mode="nearest"), box,
                                    mode="nearest")
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
