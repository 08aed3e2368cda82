"""Seeded evaluation sets of numbers: 3 to 7 MNIST *test* digits written in a row.

    python -m eval.numbers --out DIR [--kind KIND] [--count N] [--seed S] [--blank] [--desk]

writes `DIR/<kind>_<n>.<ext>` and `DIR/labels.csv` (`filename,text,kind,mnist_indices`: the
MNIST test digits each number is written with, left to right). Every image draws
its own random numbers from `(seed, kind, n)`: the same arguments give the same bytes, and a
set of `count` images is a prefix of a bigger one. The kinds are those of issue 13:

- `clean`: dark ink on white, normally spaced;
- `tight`: neighbours touching or overlapping (tight handwriting);
- `notebook`: a phone photo of ruled notebook paper (blue lines, ballpoint, uneven light);
- `comb`: one digit per printed box of a form's comb field;
- `drift`: size and baseline drifting along the row, the row slightly turned, pencil;

and, made only when named (`--kind underlined`, not in `all`):

- `underlined`: a number in ballpoint with a line drawn under it by the same pen;
- `crossed`: the same, the line drawn a little high, through the lowest digits' feet;
- `circled`: a number in ballpoint with a ring drawn around it by the same pen;
- `boxed`: the same with a box drawn around it, four strokes that cross at the corners or
  stop just short of them;
- `squared`: a phone photo of squared paper (a 5 mm grid), the number written across it;
- `boxes`: `comb` with the form's boxes printed apart;
- `ticks`: `comb` printed as a line with ticks rising from it between the digits' places;
- `underscores`: `boxes` printed as a line under each place instead.

The paper, lines, ink, light and camera come from the capture generators (`eval.make`).

`--blank` writes a form field's kinds (`comb`, `boxes`, `ticks`, `underscores`) with the
same paper, printing, light and camera and nothing written in them, and no labels.csv:
every one should be read as "no digit found" (`mnistq predict DIR --read number | grep -vc
"error:"` counts those read as a number).

`--desk` lays each page, photographed, on a desk that shows around it (`eval.desk`).
"""

from __future__ import annotations

import argparse
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from common.settings import Settings
from core.data import load_split
from eval.desk import desk_stream, on_desk
from eval.make import (
    _ballpoint,
    _camera,
    _hlines,
    _ink_on,
    _light,
    _paper,
    _rectangle,
    _save,
    _tint,
    _writer,
    write_labels,
)

KINDS = ("clean", "tight", "notebook", "comb", "drift")
"""The kinds of a set made with `--kind all`, the issue's five."""
MORE_KINDS = ("underlined", "crossed", "circled", "boxed", "squared", "boxes", "ticks",
              "underscores")
"""Kinds made only when asked for by name (`--kind underlined`)."""
COLUMNS = ("filename", "text", "kind", "mnist_indices")
MIN_DIGITS, MAX_DIGITS = 3, 7
FIELD_KINDS = ("comb", "boxes", "ticks", "underscores")
"""The kinds printed as a form's field: `--blank` makes them empty."""


def _crop(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _plain(digit: np.ndarray) -> np.ndarray:
    """MNIST's own digit as ink coverage (4x upsampled), no other hand."""
    ink = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC),
                     dtype=np.float32) / 255.0
    return np.clip(ink, 0, 1)


def _row(inks: list[np.ndarray], heights: list[float], gaps: list[float],
         baselines: list[float], angles: list[float], size: tuple[int, int],
         start: float) -> np.ndarray:
    """The digits' ink coverage on a `size` canvas, left to right from x = `start`: digit i
    `heights[i]` px tall, its bottom at `baselines[i]`, `gaps[i]` px after the previous one
    (negative: overlapping)."""
    w, h = size
    cover = np.zeros((h, w), np.float32)
    x = start
    for n, (ink, height, gap, base, angle) in enumerate(
            zip(inks, heights, gaps, baselines, angles, strict=True)):
        crop = _crop(ink)
        scale = height / crop.shape[0]
        pw, ph = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
        piece = Image.fromarray(crop).resize((pw, ph), Image.Resampling.BILINEAR)
        if n:
            x += gap
        centre = (x + pw / 2, base - ph / 2)  # turning a digit keeps its centre
        if angle:
            piece = piece.rotate(angle, Image.Resampling.BILINEAR, expand=True)
        left, top = round(centre[0] - piece.width / 2), round(centre[1] - piece.height / 2)
        alpha = np.asarray(piece, np.float32)
        # clip to the canvas
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + alpha.shape[0], h), min(left + alpha.shape[1], w)
        if y1 > y0 and x1 > x0:
            region = cover[y0:y1, x0:x1]
            np.maximum(region, alpha[y0 - top:y1 - top, x0 - left:x1 - left], out=region)
        x += pw
    return cover


def _widths(inks: list[np.ndarray], heights: list[float]) -> list[float]:
    return [_crop(i).shape[1] * h / _crop(i).shape[0] for i, h in zip(inks, heights, strict=True)]


def _canvas(rng: np.random.Generator, total: float, height: float,
            margin: tuple[float, float] = (0.3, 1.2)) -> tuple[tuple[int, int], float, float]:
    """A page around a row `total` px long of digits `height` tall: its size, the row's
    start x and its baseline y."""
    left = rng.uniform(*margin) * height
    right = rng.uniform(*margin) * height
    above, below = rng.uniform(0.4, 1.5) * height, rng.uniform(0.4, 1.5) * height
    w, h = round(left + total + right), round(above + height + below)
    return (w, h), left, above + height


def clean(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """Dark ink on white paper, normally spaced, MNIST's own hand."""
    height = rng.uniform(24, 90)
    heights = [height] * len(inks)
    gaps = list(rng.uniform(0.12, 0.45, len(inks)) * height)
    size, start, base = _canvas(rng, sum(_widths(inks, heights)) + sum(gaps[1:]), height)
    cover = _row(inks, heights, gaps, [base] * len(inks), [0.0] * len(inks), size, start)
    value = rng.uniform(0, 60)
    paper = rng.uniform(225, 255)
    grey = paper - cover * (paper - value)
    pixels = np.clip(grey, 0, 255).astype(np.uint8)
    fmt = "PNG" if rng.random() < 0.5 else "JPEG"
    return _save(pixels, fmt, rng), fmt.lower().replace("jpeg", "jpg")


def tight(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """Tight handwriting: neighbours touch or overlap by up to a fifth of a digit."""
    height = rng.uniform(30, 90)
    heights = list(height * rng.uniform(0.92, 1.08, len(inks)))
    widths = _widths(inks, heights)
    gaps = [-rng.uniform(0.0, 0.2) * min(a, b) for a, b in zip([0.0, *widths], widths,
                                                                   strict=False)]
    gaps = [0.0, *gaps[1:len(inks)]]
    size, start, base = _canvas(rng, sum(widths) + sum(gaps), height)
    baselines = list(base + rng.uniform(-0.04, 0.04, len(inks)) * height)
    cover = _row(inks, heights, gaps, baselines, list(rng.uniform(-4, 4, len(inks))), size,
                 start)
    return _ballpoint_photo(cover, size, rng)


def _notebook_row(inks: list[np.ndarray], height: float, rng: np.random.Generator
                  ) -> tuple[list[float], list[float], float]:
    """A notebook's row of digits about `height` tall: each digit's height, the gaps before
    them and the row's length."""
    heights = list(height * rng.uniform(0.9, 1.1, len(inks)))
    gaps = list(rng.uniform(0.1, 0.4, len(inks)) * height)
    return heights, gaps, sum(_widths(inks, heights)) + sum(gaps[1:])


class _Written(NamedTuple):
    inks: list[np.ndarray]
    heights: list[float]
    gaps: list[float]
    start: float
    base: float
    height: float


def _notebook_photo(page: np.ndarray, row: _Written, rng: np.random.Generator
                    ) -> tuple[bytes, str]:
    """`row` written in ballpoint on `page` (paper and its printed lines) along its
    baseline, wandering a little, and the page photographed by a phone in uneven light."""
    size = (page.shape[1], page.shape[0])
    n = len(row.inks)
    baselines = list(row.base + rng.uniform(-0.05, 0.05, n) * row.height)
    cover = _row(row.inks, row.heights, row.gaps, baselines, list(rng.uniform(-6, 6, n)), size,
                 row.start)
    _ink_on(page, cover * rng.uniform(0.75, 1.0), _ballpoint(rng))
    page *= _light(size, rng, rng.uniform(0.1, 0.45))
    pixels = _camera(page, rng, rng.uniform(2, 7), rng.uniform(0, 1.0))
    return _save(pixels, "JPEG", rng), "jpg"


def notebook(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """A phone photo of ruled notebook paper: the number written on a line in ballpoint."""
    spacing = rng.uniform(28, 60)
    height = spacing * rng.uniform(0.8, 1.6)
    heights, gaps, total = _notebook_row(inks, height, rng)
    size, start, _ = _canvas(rng, total, height, (0.5, 2.0))
    w, h = size
    h = max(h, round(4 * spacing), round(2.5 * height))
    size = (w, h)
    page = _paper(size, _tint(rng, rng.uniform(225, 250), 8))
    offset = rng.uniform(0, spacing)
    lines = np.arange(offset, h, spacing)
    usable = lines[(lines > height * 1.6) & (lines < h - 0.3 * height)]
    base = float(usable[rng.integers(len(usable))]) if len(usable) else h * 0.7
    base -= rng.uniform(0.0, 0.15) * spacing
    scale = max(w, h) / 1000
    blue = np.array([rng.uniform(90, 170), rng.uniform(150, 200), rng.uniform(215, 250)])
    _hlines_at(page, lines, rng.uniform(0.8, 2.5) * max(scale, 1), blue, rng.uniform(0.5, 1.0))
    return _notebook_photo(page, _Written(inks, heights, gaps, start, base, height), rng)


def squared(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """A phone photo of squared paper (a 5 mm grid, turned up to 2°): the number written
    across its squares in ballpoint, each digit 0.8-1.7 squares tall."""
    spacing = rng.uniform(22, 50)
    height = spacing * rng.uniform(0.8, 1.7)
    heights, gaps, total = _notebook_row(inks, height, rng)
    size, start, base = _canvas(rng, total, height, (0.5, 2.0))
    page = _paper(size, _tint(rng, rng.uniform(225, 250), 8))
    colour = np.array([rng.uniform(90, 170), rng.uniform(150, 200), rng.uniform(200, 250)])
    thickness, tilt, strength = rng.uniform(0.8, 2.0), rng.uniform(-2, 2), rng.uniform(0.4, 0.9)
    _hlines(page, rng, spacing, thickness, colour, strength, tilt=tilt)
    _hlines(page, rng, spacing, thickness, colour, strength, vertical=True, tilt=-tilt)
    return _notebook_photo(page, _Written(inks, heights, gaps, start, base, height), rng)


def _hlines_at(page: np.ndarray, ys: np.ndarray, thickness: float, colour: np.ndarray,
               strength: float) -> None:
    """Horizontal printed lines at the rows `ys` (anti-aliased)."""
    h, w = page.shape[:2]
    yy = np.arange(h, dtype=np.float32)[:, None]
    distance = np.min(np.abs(yy - ys[None, :].astype(np.float32)), axis=1, keepdims=True)
    cover = np.clip(thickness / 2 + 0.5 - distance, 0, 1) * strength
    _ink_on(page, np.broadcast_to(cover, (h, w)).astype(np.float32), colour)


def comb(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """A scanned form's comb field: one printed box per digit, the digit written inside."""
    return _field(inks, rng, "comb")


def boxes(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """`comb` with the form's boxes printed apart, a tenth to half a box between them."""
    return _field(inks, rng, "boxes")


def ticks(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """`comb` printed as a line with ticks rising from it between the digits' places (a
    quarter to half their height), no box drawn."""
    return _field(inks, rng, "ticks")


def underscores(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """`boxes` printed as a line under each place instead, four fifths of its width long."""
    return _field(inks, rng, "underscores")


def _field(inks: list[np.ndarray], rng: np.random.Generator, style: str, blank: bool = False
           ) -> tuple[bytes, str]:
    """One digit per printed place of a form's field, as `style` prints the places: `comb`
    (boxes sharing their walls), `boxes` (boxes apart), `ticks` or `underscores`; `blank`:
    the same field with nothing written in it (the same random draws)."""
    cell = rng.uniform(30, 90)
    box_h = cell * rng.uniform(1.0, 1.4)
    n = len(inks) + int(rng.integers(0, 2))  # sometimes a spare empty box at the end
    apart = rng.uniform(0.1, 0.5) * cell if style in ("boxes", "underscores") else 0.0
    pitch = cell + apart  # from one place to the next
    size, start, _ = _canvas(rng, n * pitch - apart, box_h, (0.3, 1.0))
    w, h = size
    top = (h - box_h) / 2
    page = _paper(size, _tint(rng, rng.uniform(232, 255), 4))
    line = max(1.0, rng.uniform(0.02, 0.06) * cell)
    printed = np.full(3, rng.uniform(0, 110))
    if rng.random() < 0.4:
        printed = np.array([rng.uniform(60, 160), rng.uniform(60, 160), rng.uniform(150, 230)])
    if style in ("comb", "boxes"):
        for i in range(n):
            _rectangle(page, (start + i * pitch, top, cell, box_h), line, printed)
    elif style == "underscores":
        for i in range(n):
            _rectangle(page, (start + i * pitch + 0.1 * cell, top + box_h, 0.8 * cell, 0), line,
                       printed)
    else:
        _rectangle(page, (start, top + box_h, n * cell, 0), line, printed)
        tick = rng.uniform(0.25, 0.5) * box_h
        for i in range(n + 1):
            _rectangle(page, (start + i * cell, top + box_h - tick, 0, tick), line, printed)
    cover = np.zeros((h, w), np.float32)
    for i, ink in enumerate(inks):
        height = box_h * rng.uniform(0.55, 0.8)
        centre_x = start + i * pitch + 0.5 * cell + rng.uniform(-0.1, 0.1) * cell
        crop = _crop(ink)
        width = crop.shape[1] * height / crop.shape[0]
        if width > 0.8 * cell:  # a wide digit is written smaller to fit its box
            height *= 0.8 * cell / width
            width = 0.8 * cell
        bottom = top + box_h - (box_h - height) / 2 + rng.uniform(-0.08, 0.08) * box_h
        cover = np.maximum(cover, _row([ink], [height], [0.0], [bottom],
                                       [rng.uniform(-5, 5)], size, centre_x - width / 2))
    colour = _ballpoint(rng) if rng.random() < 0.6 else np.full(3, 20.0)
    if not blank:
        _ink_on(page, cover, colour)
    pixels = _camera(page, rng, rng.uniform(1, 5), rng.uniform(0, 0.7))
    fmt = "PNG" if rng.random() < 0.3 else "JPEG"
    return _save(pixels, fmt, rng), fmt.lower().replace("jpeg", "jpg")


def drift(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """Pencil; the digits' size and baseline drift along the row, the row slightly turned."""
    height = rng.uniform(30, 80)
    growth = rng.uniform(-0.25, 0.25)
    steps = np.linspace(0, 1, len(inks))
    heights = list(height * (1 + growth * steps) * rng.uniform(0.9, 1.1, len(inks)))
    gaps = list(rng.uniform(0.1, 0.45, len(inks)) * height)
    total = sum(_widths(inks, heights)) + sum(gaps[1:])
    tilt = rng.uniform(-5, 5)
    rise = np.tan(np.radians(tilt)) * total
    wave = rng.uniform(-0.15, 0.15) * height * np.sin(np.pi * steps * rng.uniform(1, 2))
    size, start, base = _canvas(rng, total, height * 1.3 + abs(rise), (0.3, 1.2))
    base = base - max(rise, 0) if rise > 0 else base
    baselines = list(base + rise * steps + wave)
    angles = list(-tilt + rng.uniform(-3, 3, len(inks)))
    cover = _row(inks, heights, gaps, baselines, angles, size, start)
    page = _paper(size, _tint(rng, rng.uniform(228, 252), 5))
    lead = np.full(3, rng.uniform(50, 120))
    grain = rng.uniform(0.65, 1.0, cover.shape).astype(np.float32)
    _ink_on(page, cover * grain * rng.uniform(0.55, 0.9), lead)
    page *= _light(size, rng, rng.uniform(0.0, 0.3))
    pixels = _camera(page, rng, rng.uniform(1.5, 5), rng.uniform(0, 0.8))
    return _save(pixels, "JPEG", rng), "jpg"


class _PenRow(NamedTuple):
    cover: np.ndarray
    size: tuple[int, int]
    height: float
    total: float
    start: float
    base: float


def _pen_row(inks: list[np.ndarray], rng: np.random.Generator, margin: tuple[float, float],
             room: tuple[float, float]) -> _PenRow:
    """A row written in a steady hand, with `room` above and below it (in digit heights)
    for a mark drawn with it: its ink coverage, the page's size, the digits' height, the
    row's length, its start x and its baseline y."""
    height = rng.uniform(30, 90)
    heights = list(height * rng.uniform(0.92, 1.08, len(inks)))
    gaps = list(rng.uniform(0.1, 0.4, len(inks)) * height)
    total = sum(_widths(inks, heights)) + sum(gaps[1:])
    (w, h), start, base = _canvas(rng, total, height, margin)
    above, below = (round(r * height) for r in room)
    size, base = (w, h + above + below), base + above
    cover = _row(inks, heights, gaps, list(base + rng.uniform(-0.03, 0.03, len(inks)) * height),
                 list(rng.uniform(-4, 4, len(inks))), size, start)
    return _PenRow(cover, size, height, total, start, base)


def _pen_stroke(row: _PenRow, xs: np.ndarray, ys: np.ndarray, pen: int) -> None:
    """A stroke along the points (`xs`, `ys`) drawn into `row`'s cover by a square pen `pen`
    px wide, clipped to the page."""
    for k in range(pen):
        for j in range(pen):
            row.cover[np.clip(np.round(ys).astype(int) + k, 0, row.size[1] - 1),
                      np.clip(np.round(xs).astype(int) + j, 0, row.size[0] - 1)] = 1.0


def _ballpoint_photo(cover: np.ndarray, size: tuple[int, int], rng: np.random.Generator
                     ) -> tuple[bytes, str]:
    """`cover` in ballpoint on white paper `size` large, photographed by a phone."""
    page = _paper(size, _tint(rng, rng.uniform(230, 252), 5))
    _ink_on(page, cover * rng.uniform(0.8, 1.0), _ballpoint(rng))
    pixels = _camera(page, rng, rng.uniform(1, 4), rng.uniform(0, 0.6))
    return _save(pixels, "JPEG", rng), "jpg"


def underlined(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """A number in ballpoint, a line drawn under it with the same pen (an amount, a total):
    the digits standing on it or just above it, the line wandering and sloping a little,
    starting and ending near the number's ends; a phone photo."""
    return _with_line(inks, rng, (0.0, 0.12))


def crossed(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """`underlined`, the line drawn a little high: through the feet of the digits reaching
    lowest, 5-20% of the digits' height above the row's foot."""
    return _with_line(inks, rng, (-0.2, -0.05))


def _with_line(inks: list[np.ndarray], rng: np.random.Generator, below: tuple[float, float]
               ) -> tuple[bytes, str]:
    """A number in ballpoint and a line by the same pen `below` (a range, in digit heights)
    the row's foot; a phone photo."""
    row = _pen_row(inks, rng, (0.4, 1.2), (0.0, 0.3))
    height, start, total = row.height, row.start, row.total
    xs = np.arange(max(0, round(start - rng.uniform(-0.2, 0.4) * height)),
                   min(row.size[0], round(start + total + rng.uniform(-0.2, 0.4) * height)))
    ys = (row.base + rng.uniform(*below) * height + rng.uniform(-0.05, 0.05) * (xs - xs[0])
          + rng.uniform(0, 0.04) * height * np.sin(xs / rng.uniform(20, 60)))
    pen = max(2, round(rng.uniform(0.05, 0.1) * height))
    for k in range(pen):
        row.cover[np.clip(np.round(ys).astype(int) + k, 0, row.size[1] - 1), xs] = 1.0
    return _ballpoint_photo(row.cover, row.size, rng)


def circled(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """A number in ballpoint circled by the same pen (a total, an answer): a wobbly
    ellipse, a little turned, clear of the digits by 15-50% of their height, its ends
    overlapping or left a little open; a phone photo."""
    row = _pen_row(inks, rng, (0.9, 1.4), (0.6, 0.6))  # room above and below for the ring
    height, total = row.height, row.total
    clear = rng.uniform(0.15, 0.5) * height
    across, down = total / 2 + clear + 0.3 * height, height / 2 + clear  # the radii
    turn = rng.uniform(-0.08, 0.08)
    first = rng.uniform(0, 2 * np.pi)
    angles = first + np.linspace(0, 2 * np.pi + rng.uniform(-0.15, 0.25), 8 * round(across + down))
    wobble = 1 + rng.uniform(0, 0.04) * np.sin(angles * rng.integers(2, 4) + rng.uniform(0, 6))
    dx, dy = across * wobble * np.cos(angles), down * wobble * np.sin(angles)
    xs = row.start + total / 2 + dx * np.cos(turn) - dy * np.sin(turn)
    ys = row.base - height / 2 + dx * np.sin(turn) + dy * np.cos(turn)
    pen = max(2, round(rng.uniform(0.05, 0.1) * height))
    _pen_stroke(row, xs, ys, pen)
    return _ballpoint_photo(row.cover, row.size, rng)


def boxed(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[bytes, str]:
    """A number in ballpoint with a box drawn around it by the same pen: four strokes, each
    a little sloped and bowed, clear of the digits by 10-50% of their height, running past
    the corners or stopping just short of them; a phone photo."""
    row = _pen_row(inks, rng, (0.9, 1.4), (0.6, 0.6))  # room above and below for the box
    height = row.height
    clear_x, clear_y = rng.uniform(0.1, 0.5, 2) * height
    left, right = row.start - clear_x, row.start + row.total + clear_x
    top, bottom = row.base - height - clear_y, row.base + clear_y
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    pen = max(2, round(rng.uniform(0.05, 0.1) * height))
    for side in range(4):
        (x0, y0), (x1, y1) = corners[side], corners[(side + 1) % 4]
        x0, y0, x1, y1 = (v + rng.uniform(-0.04, 0.04) * height for v in (x0, y0, x1, y1))
        past = rng.uniform(-0.06, 0.15, 2) * height  # beyond each corner (or short of it)
        length = np.hypot(x1 - x0, y1 - y0)
        t = np.linspace(-past[0] / length, 1 + past[1] / length, 2 * round(length))
        bow = rng.uniform(-0.03, 0.03) * height * np.sin(np.pi * t)
        xs = x0 + t * (x1 - x0) - bow * (y1 - y0) / length
        ys = y0 + t * (y1 - y0) + bow * (x1 - x0) / length
        _pen_stroke(row, xs, ys, pen)
    return _ballpoint_photo(row.cover, row.size, rng)


MAKERS: dict[str, Callable[[list[np.ndarray], np.random.Generator], tuple[bytes, str]]] = {
    "clean": clean, "tight": tight, "notebook": notebook, "comb": comb, "drift": drift,
    "underlined": underlined, "crossed": crossed, "circled": circled, "boxed": boxed,
    "squared": squared, "boxes": boxes, "ticks": ticks, "underscores": underscores,
}


def _drawn(kind: str, seed: int, n: int, images: np.ndarray
           ) -> tuple[np.random.Generator, np.ndarray, list[np.ndarray]]:
    """The `n`-th number of `kind` in the set of `seed` before it is put on paper: its
    generator (drawn from as far as the digits), the indices of its MNIST test digits and
    those digits as written (ink coverage, 4x upsampled): MNIST's own hand for clean
    numbers, another hand (`_writer`) for the other kinds."""
    rng = np.random.default_rng([seed, zlib.crc32(b"number-" + kind.encode()), n])
    length = int(rng.integers(MIN_DIGITS, MAX_DIGITS + 1))
    chosen = rng.integers(0, len(images), length)
    if kind == "clean":
        return rng, chosen, [_plain(images[i]) for i in chosen]
    return rng, chosen, [_writer(images[i], rng) for i in chosen]


def number(kind: str, seed: int, n: int, images: np.ndarray, blank: bool = False
           ) -> tuple[bytes, str, np.ndarray]:
    """The `n`-th number of `kind` in the set of `seed` (`images`: the MNIST test images):
    its file's bytes and extension, and the indices of the digits written, left to right;
    `blank` (a field's kind only): its field with nothing written in it."""
    if blank and kind not in FIELD_KINDS:
        raise ValueError(f"only a form field's kinds can be blank ({', '.join(FIELD_KINDS)})")
    rng, chosen, inks = _drawn(kind, seed, n, images)
    if blank:
        return (*_field(inks, rng, kind, blank=True), chosen)
    data, ext = MAKERS[kind](inks, rng)
    return data, ext, chosen


def written(kind: str, seed: int, n: int, images: np.ndarray
            ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The indices of the `n`-th number's MNIST digits and the digits as its writer drew
    them, each alone (ink coverage in [0, 1], 4x upsampled), before the paper, the lines,
    the light and the camera: what a reader of the page could at best be given."""
    _, chosen, inks = _drawn(kind, seed, n, images)
    return chosen, inks


def make(out: Path, kind: str, count: int, seed: int, data_dir: Path, blank: bool = False,
         desk: bool = False) -> list[dict[str, str]]:
    """Write `count` numbers of `kind` under `out` and (re)write `out/labels.csv`; kinds
    already listed there are kept, so one folder can hold several kinds. `blank`: the
    fields with nothing written, and no labels. `desk`: each page photographed lying on a
    desk (`eval.desk`)."""
    images, labels = load_split(data_dir, "test")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in range(count):
        data, ext, chosen = number(kind, seed, n, images, blank)
        if desk:
            data, ext = on_desk(data, desk_stream(seed, kind, n))[0], "jpg"
        name = f"{kind}_{n:05d}.{ext}"
        (out / name).write_bytes(data)
        if blank:
            continue
        rows.append({"filename": name, "text": "".join(str(int(labels[i])) for i in chosen),
                     "kind": kind, "mnist_indices": " ".join(str(int(i)) for i in chosen)})
    if not blank:
        write_labels(out / "labels.csv", kind, rows, COLUMNS)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.numbers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--kind", choices=(*KINDS, *MORE_KINDS, "all"), default="all")
    parser.add_argument("--count", type=int, default=200, help="numbers per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--blank", action="store_true",
                        help="form fields with nothing written in them, no labels")
    parser.add_argument("--desk", action="store_true",
                        help="each page photographed lying on a desk (eval/desk.py)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Settings.from_env().data_dir
    kinds = KINDS if args.kind == "all" else (args.kind,)
    if args.blank:
        kinds = tuple(kind for kind in kinds if kind in FIELD_KINDS)
        if not kinds:
            parser.error(f"--blank makes form fields only: --kind {', '.join(FIELD_KINDS)}")
    for kind in kinds:
        make(args.out, kind, args.count, args.seed, data_dir, args.blank, args.desk)
        print(f"{kind}: {args.count} {'empty fields' if args.blank else 'numbers'} in "
              f"{args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
