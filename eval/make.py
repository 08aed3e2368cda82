"""Seeded evaluation sets: MNIST *test* digits written on paper, photographed and scanned.

    python -m eval.make --out DIR --kind KIND --count N --seed S [--max-width PX]
                        [--hand-only | --blank] [--desk]

writes `DIR/<kind>_<n>.<ext>` and `DIR/labels.csv` (`filename,label,kind,box_x,box_y,box_width,
box_height,mnist_index`): the true box is the digit's ink in the upright image (after the
EXIF orientation). Every image draws its own random numbers from `(seed, kind, n)`, so the
same arguments give the same bytes, and a set of `count` images is a prefix of a bigger one.

Everything that a capture varies is drawn at random per image, in wide ranges: paper colour,
line spacing, colour and thickness, ink colour, stroke thickness (grey dilation/erosion),
the writer's hand (an elastic distortion), digit size and position, rotation, perspective,
blur, noise, light, JPEG quality, image size (100-3000 px wide, a few 12-megapixel phone
photos). The kinds are those of issue 12; see docs/capture.md.

`--hand-only` writes the same digits in the same hands and pens on a clean page instead: the
set read against its captures tells what the writers alone cost and what the captures do.

`--blank` writes the same pages, lines, boxes, light and camera with nothing written on them,
and no labels.csv: every one of them should be read as "no digit found" (`mnistq predict DIR
| grep -vc "error:"` counts those read as a digit, `--read number` as a number, instead).

`--desk` lays each page, photographed, on a desk that shows around it (`eval.desk`); the
pages are the same as without it, and their boxes move with them.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from common.settings import Settings
from core.data import load_split
from eval.desk import desk_stream, on_desk

KINDS = ("notebook", "form", "pencil", "shadow", "whiteboard", "lowres", "clean")
PHONE_SIZE = (4000, 3000)  # 12 megapixels
COLUMNS = ("filename", "label", "kind", "box_x", "box_y", "box_width", "box_height",
           "mnist_index")
HAND_PAGE = (160, 160)
"""(width, height) of the clean page `--hand-only` writes each digit on."""
BOX_INK = 0.25
"""The true box holds the digit's pixels whose ink coverage is at least this."""
PENS = tuple(range(-4, 5))
"""The writer's pens, in quarter MNIST pixels of erosion (negative: finer than MNIST's pen)
or dilation (positive: bolder), each as likely."""


@dataclass(frozen=True)
class Capture:
    """One generated image: its file bytes and extension, and the digit's true box."""

    data: bytes
    ext: str
    box: tuple[int, int, int, int]
    hand: np.ndarray
    """The digit as written (ink coverage, 4x MNIST's resolution), before paper, light and
    camera: what `--hand-only` puts on a clean page."""


# --- the digit -----------------------------------------------------------------------------

def _writer(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 MNIST digit (uint8) as ink coverage in [0, 1] (float32, 4x upsampled), in
    another hand (`written`)."""
    return written(digit, rng)[0]


def written(digit: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A 28x28 MNIST digit (uint8) in another hand: its ink coverage in [0, 1] (float32, 4x
    upsampled) after an elastic distortion and a thinner or bolder pen, and that pen (in
    quarter MNIST pixels, `PENS`: eroded by up to one pixel, a fine pen, to dilated by up to
    one, a marker; 0 is MNIST's own)."""
    ink = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC),
                     dtype=np.float32) / 255.0
    alpha, sigma = rng.uniform(0, 14), rng.uniform(7, 11)
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, ink.shape), sigma) * alpha * sigma
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, ink.shape), sigma) * alpha * sigma
    yy, xx = np.mgrid[: ink.shape[0], : ink.shape[1]].astype(np.float32)
    ink = ndimage.map_coordinates(ink, (yy + dy, xx + dx), order=1, mode="constant")
    pen = int(rng.integers(PENS[0], PENS[-1] + 1))
    if pen > 0:
        ink = ndimage.grey_dilation(ink, footprint=_disc(pen))
    elif pen < 0:
        ink = ndimage.grey_erosion(ink, footprint=_disc(-pen))
    return np.clip(ink, 0, 1).astype(np.float32), pen


def _disc(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return yy**2 + xx**2 <= radius**2 + 0.5


def _place(ink: np.ndarray, size: tuple[int, int], height: float, centre: tuple[float, float],
           angle: float) -> np.ndarray:
    """The digit's ink coverage on a `size` (w, h) canvas: its ink `height` px tall, its
    ink's box centred on `centre` (x, y), rotated by `angle` degrees."""
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    if rows.size == 0:  # a blank page (`--blank`)
        return np.zeros(size[::-1], dtype=np.float32)
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = height / crop.shape[0]
    w, h = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    piece = Image.fromarray(crop).resize((w, h), Image.Resampling.BILINEAR)
    if angle:
        piece = piece.rotate(angle, Image.Resampling.BILINEAR, expand=True)
    canvas = Image.new("F", size, 0.0)
    canvas.paste(piece, (round(centre[0] - piece.width / 2), round(centre[1] - piece.height / 2)))
    return np.asarray(canvas, dtype=np.float32)


def _box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """The true box: where the digit's coverage reaches BOX_INK, or half its peak when a tiny
    faint digit never does (a few low-resolution scans); all zeros on a blank page."""
    if not alpha.any():
        return 0, 0, 0, 0
    mask = alpha >= min(BOX_INK, 0.5 * float(alpha.max()))
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


# --- paper, light, camera ------------------------------------------------------------------

def _size(rng: np.random.Generator, low: int, high: int, phone: float = 0.0) -> tuple[int, int]:
    """(width, height): `phone` is the chance of a 12-megapixel phone photo."""
    if rng.random() < phone:
        return PHONE_SIZE if rng.random() < 0.5 else PHONE_SIZE[::-1]
    width = int(np.exp(rng.uniform(np.log(low), np.log(high))))
    return width, max(16, int(width * rng.uniform(0.6, 1.4)))


def _paper(size: tuple[int, int], colour: np.ndarray) -> np.ndarray:
    w, h = size
    return np.broadcast_to(colour.astype(np.float32), (h, w, 3)).copy()


def _tint(rng: np.random.Generator, base: float, spread: float) -> np.ndarray:
    return np.clip(base + rng.uniform(-spread, spread, 3) * [1.0, 0.9, 1.3], 0, 255)


def _light(size: tuple[int, int], rng: np.random.Generator, strength: float) -> np.ndarray:
    """Uneven light: a gradient and a vignette, as a (h, w, 1) gain in (0, 1]."""
    w, h = size
    yy, xx = (v.astype(np.float32) for v in np.ogrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j])
    angle = rng.uniform(0, 2 * np.pi)
    gain = 1 - strength * rng.uniform(0.2, 1) * (1 + np.cos(angle) * xx + np.sin(angle) * yy) / 2
    gain = gain - strength * rng.uniform(0, 0.8) * (xx**2 + yy**2) / 2
    return np.clip(gain, 0.2, 1).astype(np.float32)[..., None]


def _shadow(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A soft shadow (a hand, a phone) across part of the page, as a gain."""
    w, h = size
    yy, xx = (v.astype(np.float32) for v in np.ogrid[0:h, 0:w])
    angle = rng.uniform(0, 2 * np.pi)
    offset = rng.uniform(-0.3, 0.3) * min(w, h)
    distance = (np.cos(angle) * (xx - w / 2) + np.sin(angle) * (yy - h / 2) - offset)
    softness = rng.uniform(0.02, 0.15) * min(w, h)
    inside = 1 / (1 + np.exp(-distance / softness))
    return (1 - rng.uniform(0.25, 0.6) * inside).astype(np.float32)[..., None]


def _hlines(page: np.ndarray, rng: np.random.Generator, spacing: float, thickness: float,
            colour: np.ndarray, strength: float, vertical: bool = False,
            tilt: float = 0.0) -> None:
    """Printed lines every `spacing` px across the whole page (anti-aliased), in place."""
    h, w = page.shape[:2]
    yy, xx = np.ogrid[0:h, 0:w]
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    along, across = (yy, xx) if vertical else (xx, yy)
    position = across + np.tan(np.radians(tilt)) * along - rng.uniform(0, spacing)
    distance = np.abs((position + spacing / 2) % spacing - spacing / 2)
    cover = np.clip(thickness / 2 + 0.5 - distance, 0, 1).astype(np.float32) * strength
    _ink_on(page, cover, colour)


def _vline(page: np.ndarray, x: float, thickness: float, colour: np.ndarray) -> None:
    h, w = page.shape[:2]
    xx = np.arange(w, dtype=np.float32)[None, :]
    cover = np.clip(thickness / 2 + 0.5 - np.abs(xx - x), 0, 1)
    _ink_on(page, np.broadcast_to(cover, (h, w)), colour)


def _ink_on(page: np.ndarray, cover: np.ndarray, colour: np.ndarray) -> None:
    """Subtractive ink: where `cover` is 1 the paper takes the ink's colour (0-255)."""
    page *= 1 - cover[..., None] * (1 - colour.astype(np.float32) / 255.0)


def _camera(page: np.ndarray, rng: np.random.Generator, noise: float, blur: float) -> np.ndarray:
    """Lens blur and sensor noise (luminance and colour), as uint8."""
    pixels = np.clip(page, 0, 255).astype(np.uint8)
    if blur > 0.3:
        pixels = np.asarray(Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(blur)))
    grain = rng.standard_normal(pixels.shape[:2], dtype=np.float32) * np.float32(noise)
    speckle = rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(noise / 2)
    return np.clip(pixels + grain[..., None] + speckle, 0, 255).astype(np.uint8)


def _save(pixels: np.ndarray, fmt: str, rng: np.random.Generator, **options) -> bytes:
    out = io.BytesIO()
    image = Image.fromarray(pixels)
    if fmt == "JPEG":
        options.setdefault("quality", int(rng.integers(55, 96)))
    image.save(out, fmt, **options)
    return out.getvalue()


def _ballpoint(rng: np.random.Generator) -> np.ndarray:
    inks = ([20, 40, 140], [15, 15, 25], [40, 40, 90], [10, 60, 160], [60, 20, 90])
    return np.clip(np.array(inks[rng.integers(len(inks))]) + rng.uniform(-15, 15, 3), 0, 255)


def _digit_on(page: np.ndarray, ink: np.ndarray, rng: np.random.Generator, height: float,
              centre: tuple[float, float], angle: float, colour: np.ndarray,
              strength: float = 1.0, texture: float = 0.0) -> np.ndarray:
    h, w = page.shape[:2]
    alpha = _place(ink, (w, h), height, centre, angle)
    cover = alpha * strength
    if texture:
        grain = rng.uniform(1 - texture, 1, alpha.shape).astype(np.float32)
        cover = cover * grain
    _ink_on(page, cover, colour)
    return alpha


def _centre_in(rng: np.random.Generator, size: tuple[int, int], height: float,
               margin: float = 0.6) -> tuple[float, float]:
    w, h = size
    half = margin * height
    return (rng.uniform(min(half, w / 2), max(w - half, w / 2)),
            rng.uniform(min(half, h / 2), max(h - half, h / 2)))


# --- the kinds -----------------------------------------------------------------------------

def notebook(digit: np.ndarray, rng: np.random.Generator, max_width: int,
             size: tuple[int, int] | None = None) -> Capture:
    """A phone photo of ruled notebook paper: blue lines, red margin, ballpoint, uneven light."""
    size = size or _fit(_size(rng, 300, 3000, phone=0.04), max_width)
    w, h = size
    page = _paper(size, _tint(rng, rng.uniform(225, 250), 8))
    spacing = rng.uniform(0.035, 0.09) * h
    scale = max(w, h) / 1000
    _hlines(page, rng, spacing, rng.uniform(0.8, 3.5) * scale,
            np.array([rng.uniform(90, 170), rng.uniform(150, 200), rng.uniform(215, 250)]),
            rng.uniform(0.5, 1.0), tilt=rng.uniform(-2, 2))
    margin_x = None
    if rng.random() < 0.7:
        margin_x = rng.uniform(0.06, 0.2) * w
        _vline(page, margin_x, rng.uniform(1, 4) * scale,
               np.array([rng.uniform(200, 240), rng.uniform(60, 130), rng.uniform(70, 140)]))
    height = spacing * rng.uniform(1.3, 3.5)
    cx, cy = _centre_in(rng, size, height, 1.0)
    if margin_x is not None and cx - 0.6 * height < margin_x:
        cx = min(w - 0.6 * height, margin_x + 0.7 * height + rng.uniform(0, 0.2) * w)
    ink = _writer(digit, rng)
    alpha = _digit_on(page, ink, rng, height, (cx, cy), rng.uniform(-8, 8),
                      _ballpoint(rng), rng.uniform(0.75, 1.0))
    page *= _light(size, rng, rng.uniform(0.1, 0.5))
    pixels = _camera(page, rng, rng.uniform(2, 8), rng.uniform(0, 1.2) * scale)
    return Capture(_save(pixels, "JPEG", rng), "jpg", _box(alpha), ink)


def form(digit: np.ndarray, rng: np.random.Generator, max_width: int) -> Capture:
    """A scanned form: the digit written inside a printed box (other printed rules around)."""
    size = _fit(_size(rng, 150, 2000), max_width)
    w, h = size
    page = _paper(size, _tint(rng, rng.uniform(232, 255), 4))
    side = rng.uniform(0.45, 0.85) * min(w, h)
    bw, bh = side * rng.uniform(0.8, 1.25), side
    bw = min(bw, 0.95 * w)
    x0, y0 = rng.uniform(0.02 * w, w - bw - 0.02 * w), rng.uniform(0.02 * h, h - bh - 0.02 * h)
    line = max(1.0, rng.uniform(0.004, 0.015) * min(w, h))
    printed = np.full(3, rng.uniform(0, 90))
    if rng.random() < 0.3:
        printed = np.array([rng.uniform(60, 140), rng.uniform(60, 140), rng.uniform(150, 220)])
    _rectangle(page, (x0, y0, bw, bh), line, printed)
    if rng.random() < 0.5:  # a rule under or over the box (a field of the form)
        y = y0 + bh + rng.uniform(0.5, 1.5) * line + 2 if rng.random() < 0.5 else y0 - 3 * line
        if 0 <= y < h:
            _rectangle(page, (0, y, w, 0), line, printed)
    height = bh * rng.uniform(0.5, 0.8)
    margin = (bh - height) / 2
    cx = x0 + bw / 2 + rng.uniform(-0.25, 0.25) * (bw - height * 0.7)
    cy = y0 + bh / 2 + rng.uniform(-0.6, 0.6) * margin
    ink = _writer(digit, rng)
    alpha = _digit_on(page, ink, rng, height, (cx, cy), rng.uniform(-6, 6),
                      _ballpoint(rng) if rng.random() < 0.6 else np.full(3, 20.0))
    pixels = _camera(page, rng, rng.uniform(1, 6), rng.uniform(0, 0.8))
    pixels, alpha = _turn(pixels, alpha, rng.uniform(-2, 2))
    fmt = "PNG" if rng.random() < 0.3 else "JPEG"
    return Capture(_save(pixels, fmt, rng), fmt.lower().replace("jpeg", "jpg"), _box(alpha), ink)


def _rectangle(page: np.ndarray, box: tuple[float, float, float, float], thickness: float,
               colour: np.ndarray) -> None:
    h, w = page.shape[:2]
    x, y, bw, bh = box
    yy, xx = np.ogrid[0:h, 0:w]
    half = thickness / 2 + 0.5
    inside_x = (xx >= x - half) & (xx <= x + bw + half)
    inside_y = (yy >= y - half) & (yy <= y + bh + half)
    horizontal = (np.minimum(np.abs(yy - y), np.abs(yy - y - bh)) + 0 * xx) * inside_x
    vertical = (np.minimum(np.abs(xx - x), np.abs(xx - x - bw)) + 0 * yy) * inside_y
    distance = np.where(inside_x, horizontal, np.inf)
    if bh > 0:
        distance = np.minimum(distance, np.where(inside_y, vertical, np.inf))
    cover = np.clip(half - distance, 0, 1).astype(np.float32)
    _ink_on(page, cover, colour)


def _turn(pixels: np.ndarray, alpha: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate the page image and the digit's coverage alike, filling corners with paper."""
    if abs(angle) < 0.05:
        return pixels, alpha
    fill = tuple(int(v) for v in np.median(pixels[:4].reshape(-1, 3), axis=0))
    turned = Image.fromarray(pixels).rotate(angle, Image.Resampling.BILINEAR, fillcolor=fill)
    cover = Image.fromarray(alpha).rotate(angle, Image.Resampling.BILINEAR)
    return np.asarray(turned), np.asarray(cover, dtype=np.float32)


def pencil(digit: np.ndarray, rng: np.random.Generator, max_width: int) -> Capture:
    """Faint grey pencil on squared paper with grid lines."""
    size = _fit(_size(rng, 200, 2500, phone=0.02), max_width)
    w, h = size
    page = _paper(size, _tint(rng, rng.uniform(228, 252), 5))
    spacing = rng.uniform(0.025, 0.08) * max(w, h)
    scale = max(w, h) / 1000
    grid = np.array([rng.uniform(100, 200), rng.uniform(140, 210), rng.uniform(170, 240)])
    if rng.random() < 0.3:
        grid = np.full(3, rng.uniform(140, 200))
    thickness, strength, tilt = rng.uniform(0.7, 2.5) * scale, rng.uniform(0.35, 0.9), \
        rng.uniform(-1.5, 1.5)
    _hlines(page, rng, spacing, thickness, grid, strength, tilt=tilt)
    _hlines(page, rng, spacing, thickness, grid, strength, vertical=True, tilt=-tilt)
    height = spacing * rng.uniform(1.5, 4.5)
    lead = np.full(3, rng.uniform(60, 130))
    ink = _writer(digit, rng)
    alpha = _digit_on(page, ink, rng, height, _centre_in(rng, size, height),
                      rng.uniform(-8, 8), lead, rng.uniform(0.45, 0.85), texture=0.4)
    page *= _light(size, rng, rng.uniform(0.0, 0.3))
    pixels = _camera(page, rng, rng.uniform(1.5, 6), rng.uniform(0, 1.0) * scale)
    return Capture(_save(pixels, "JPEG", rng), "jpg", _box(alpha), ink)


_EXIF_TURNS = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
               3: Image.Transpose.ROTATE_180}
"""How the stored pixels are turned from the upright photo for each EXIF orientation."""


def shadow(digit: np.ndarray, rng: np.random.Generator, max_width: int) -> Capture:
    """A phone photo with a soft shadow, the page turned up to 10 degrees, slight
    perspective, stored sideways with an EXIF orientation tag."""
    size = _fit(_size(rng, 250, 3000, phone=0.06), max_width)
    w, h = size
    page = _paper(size, _tint(rng, rng.uniform(215, 250), 10))
    scale = max(w, h) / 1000
    if rng.random() < 0.35:  # faint ruled lines on some pages
        _hlines(page, rng, rng.uniform(0.04, 0.09) * h, rng.uniform(0.8, 2.5) * scale,
                np.array([150.0, 180, 230]), rng.uniform(0.3, 0.7))
    height = rng.uniform(0.15, 0.6) * min(w, h)
    ink = _writer(digit, rng)
    alpha = _digit_on(page, ink, rng, height, _centre_in(rng, size, height, 0.9),
                      rng.uniform(-4, 4), _ballpoint(rng), rng.uniform(0.8, 1.0))
    page *= _shadow(size, rng) * _light(size, rng, rng.uniform(0.0, 0.3))
    pixels = _camera(page, rng, rng.uniform(2, 7), rng.uniform(0, 1.2) * scale)
    pixels, alpha = _turn(pixels, alpha, rng.uniform(-10, 10))
    pixels, alpha = _perspective(pixels, alpha, rng)
    orientation = int(rng.choice([6, 8, 3]))
    stored = Image.fromarray(pixels).transpose(_EXIF_TURNS[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=int(rng.integers(60, 95)), exif=exif.tobytes())
    return Capture(out.getvalue(), "jpg", _box(alpha), ink)


def _perspective(pixels: np.ndarray, alpha: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A slight keystone: the camera not quite parallel to the page."""
    h, w = alpha.shape
    a, b = rng.uniform(-0.06, 0.06, 2)
    coefficients = (1, 0, 0, 0, 1, 0, a / w, b / h)
    fill = tuple(int(v) for v in np.median(pixels[:4].reshape(-1, 3), axis=0))
    warped = Image.fromarray(pixels).transform(
        (w, h), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR,
        fillcolor=fill)
    cover = Image.fromarray(alpha).transform(
        (w, h), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR)
    return np.asarray(warped), np.asarray(cover, dtype=np.float32)


def whiteboard(digit: np.ndarray, rng: np.random.Generator, max_width: int) -> Capture:
    """Coloured marker on a whiteboard, with a glare."""
    size = _fit(_size(rng, 200, 2500, phone=0.03), max_width)
    w, h = size
    page = _paper(size, _tint(rng, rng.uniform(200, 245), 6))
    markers = ([30, 60, 200], [200, 30, 40], [30, 140, 60], [25, 25, 30], [120, 40, 160])
    colour = np.clip(np.array(markers[rng.integers(len(markers))]) + rng.uniform(-20, 20, 3),
                     0, 255)
    height = rng.uniform(0.2, 0.75) * min(w, h)
    ink = _writer(digit, rng)
    ink = ndimage.grey_dilation(ink, footprint=_disc(int(rng.integers(0, 3))))
    alpha = _digit_on(page, ink, rng, height, _centre_in(rng, size, height, 0.8),
                      rng.uniform(-6, 6), colour, rng.uniform(0.7, 1.0))
    page *= _light(size, rng, rng.uniform(0.0, 0.35))
    yy, xx = np.ogrid[0:h, 0:w]
    gx, gy = rng.uniform(0, w), rng.uniform(0, h)
    radius = rng.uniform(0.1, 0.4) * min(w, h)
    glare = np.exp(-(((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * radius**2))).astype(np.float32)
    page += (255 - page) * glare[..., None] * rng.uniform(0.4, 0.9)
    pixels = _camera(page, rng, rng.uniform(2, 6), rng.uniform(0, 1.5) * max(w, h) / 1000)
    return Capture(_save(pixels, "JPEG", rng), "jpg", _box(alpha), ink)


def lowres(digit: np.ndarray, rng: np.random.Generator, max_width: int) -> Capture:
    """A low-resolution scan of a small, grey, blurry digit in another hand."""
    size = _fit(_size(rng, 20, 110), max_width)
    w, h = size
    page = _paper(size, np.full(3, rng.uniform(170, 255)))
    height = rng.uniform(0.45, 0.8) * min(w, h)
    ink = _writer(digit, rng)
    grey = np.full(3, rng.uniform(0, 110))
    alpha = _digit_on(page, ink, rng, height, _centre_in(rng, size, height, 0.65),
                      rng.uniform(-10, 10), grey, rng.uniform(0.6, 1.0))
    pixels = _camera(page, rng, rng.uniform(1, 8), rng.uniform(0.3, 1.0))
    if rng.random() < 0.15:  # light ink on a dark scan (a negative, a microfilm)
        pixels = 255 - pixels
    fmt = "PNG" if rng.random() < 0.5 else "JPEG"
    pixels = np.asarray(Image.fromarray(pixels).convert("L"))
    return Capture(_save(pixels, fmt, rng), fmt.lower().replace("jpeg", "jpg"), _box(alpha),
                   ink)


def clean(digit: np.ndarray, rng: np.random.Generator, max_width: int) -> Capture:
    """MNIST's own digit enlarged, inverted or not, JPEG or on a transparent canvas,
    off-centre."""
    size = _fit(_size(rng, 56, 1200), max_width)
    w, h = size
    height = rng.uniform(0.25, 0.8) * min(w, h)
    ink = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC),
                     dtype=np.float32) / 255.0
    alpha = _place(np.clip(ink, 0, 1), size, height, _centre_in(rng, size, height, 0.65), 0.0)
    style = rng.integers(3)
    if style == 2:  # ink on a transparent canvas
        value = 0 if rng.random() < 0.5 else 255
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[..., :3] = value
        rgba[..., 3] = np.clip(alpha * 255, 0, 255).astype(np.uint8)
        return Capture(_save(rgba, "PNG", rng), "png", _box(alpha), ink)
    grey = alpha * 255 if style == 0 else 255 - alpha * 255  # white on black / inverted
    pixels = np.clip(grey, 0, 255).astype(np.uint8)
    fmt = "JPEG" if rng.random() < 0.7 else "PNG"
    return Capture(_save(pixels, fmt, rng), fmt.lower().replace("jpeg", "jpg"), _box(alpha), ink)


def on_clean_page(capture: Capture) -> Capture:
    """The capture's digit, in the same hand and pen, on a clean page: dark ink on white,
    100 px tall, upright, lossless. Read right here and wrong in the capture, a digit was lost
    by the paper, the light, the camera or the reading of them, not by the writer."""
    alpha = _place(np.clip(capture.hand, 0, 1), HAND_PAGE, 100, (HAND_PAGE[0] / 2,
                                                                  HAND_PAGE[1] / 2), 0.0)
    pixels = np.clip(255 - alpha * 255, 0, 255).round().astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return Capture(out.getvalue(), "png", _box(alpha), capture.hand)


def _fit(size: tuple[int, int], max_width: int) -> tuple[int, int]:
    w, h = size
    if w <= max_width:
        return size
    return max_width, max(16, round(h * max_width / w))


MAKERS: dict[str, Callable[[np.ndarray, np.random.Generator, int], Capture]] = {
    "notebook": notebook, "form": form, "pencil": pencil, "shadow": shadow,
    "whiteboard": whiteboard, "lowres": lowres, "clean": clean,
}


def capture(kind: str, seed: int, n: int, digit: np.ndarray, max_width: int = PHONE_SIZE[0]
            ) -> Capture:
    """The `n`-th capture of `kind` in the set of `seed`, `digit` written on it (all zeros:
    the same page with nothing written)."""
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode()), n])
    return MAKERS[kind](digit, rng, max_width)


def chosen(kind: str, seed: int, count: int, total: int) -> np.ndarray:
    """The indices of the `count` MNIST test digits (of `total`) that the set of `seed`
    writes as `kind`, in order: a prefix of a bigger set's."""
    picker = np.random.default_rng([seed, zlib.crc32(kind.encode())])
    return np.resize(picker.permutation(total), count)


def make(out: Path, kind: str, count: int, seed: int, data_dir: Path,
         max_width: int = PHONE_SIZE[0], hand_only: bool = False, blank: bool = False,
         desk: bool = False) -> list[dict[str, object]]:
    """Write `count` images of `kind` under `out` and (re)write `out/labels.csv`; kinds
    already listed there are kept, so one folder can hold several kinds. `hand_only`: the
    same digits in the same hands, each on a clean page (`on_clean_page`). The full capture
    is still rendered and thrown away: the writer's random draws come after the page's, and
    only the same draws give the same hands (a stream of the writer's own would, but it
    would change every seeded set the docs quote). `blank`: the same pages with nothing
    written on them, and no labels (the random draws are the same). `desk`: each page
    photographed lying on a desk (`eval.desk`), its box moved with it."""
    images, labels = load_split(data_dir, "test")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, index in enumerate(chosen(kind, seed, count, len(images))):
        digit = np.zeros_like(images[index]) if blank else images[index]
        page = capture(kind, seed, n, digit, max_width)
        if hand_only:
            page = on_clean_page(page)
        data, ext, (x, y, bw, bh) = page.data, page.ext, page.box
        if desk:
            data, scale, (left, top) = on_desk(data, desk_stream(seed, kind, n))
            ext, x, y = "jpg", left + int(x * scale), top + int(y * scale)
            bw, bh = max(1, round(bw * scale)), max(1, round(bh * scale))
        name = f"{kind}_{n:05d}.{ext}"
        (out / name).write_bytes(data)
        rows.append({"filename": name, "label": int(labels[index]), "kind": kind,
                     "box_x": x, "box_y": y, "box_width": bw, "box_height": bh,
                     "mnist_index": int(index)})
    if blank:
        return []
    write_labels(out / "labels.csv", kind, rows)
    return rows


def write_labels(
    path: Path, kind: str, rows: list[dict[str, object]], columns: tuple[str, ...] = COLUMNS
) -> None:
    """Write `rows` as `kind`'s rows of `labels.csv`, keeping the other kinds' rows there."""
    kept = []
    if path.exists():
        with path.open(newline="") as f:
            kept = [row for row in csv.DictReader(f) if row["kind"] != kind]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept + rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.make", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--kind", choices=(*KINDS, "all"), default="all")
    parser.add_argument("--count", type=int, default=300, help="images per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-width", type=int, default=PHONE_SIZE[0],
                        help="cap on image width (tests use small images)")
    variant = parser.add_mutually_exclusive_group()
    variant.add_argument("--hand-only", action="store_true",
                        help="the same digits in the same hands on a clean page: what the "
                             "writers alone cost, against which the captures' loss is measured")
    variant.add_argument("--blank", action="store_true",
                        help="the same pages with nothing written on them, and no labels.csv: "
                             "each should be read as 'no digit found'")
    parser.add_argument("--desk", action="store_true",
                        help="each page photographed lying on a desk (eval/desk.py)")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Settings.from_env().data_dir
    for kind in KINDS if args.kind == "all" else (args.kind,):
        make(args.out, kind, args.count, args.seed, data_dir, args.max_width, args.hand_only,
             args.blank, args.desk)
        print(f"{kind}: {args.count} images in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
