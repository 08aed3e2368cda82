"""Any uploaded image in, an MNIST-style 28x28 uint8 out (0 background, 255 ink).

Does what MNIST itself did to NIST's scans: find the ink, scale its bounding box so the
longest side is 20 px (aspect ratio kept, anti-aliased), then place it in 28x28 so that its
centre of mass is at the centre. Before that, whatever a user uploads (a photo, a scan, a
drawing on a transparent canvas, dark ink on light paper) is brought to light ink on a black
background. An image already in MNIST form (28x28, black background, digit in a 20 px box,
centred) passes through unchanged, so MNIST's own files round-trip exactly.

Decoding is the service's hot path and faces untrusted bytes: every failure is an
`ImageError` whose message is a short per-file error for the user, limits are checked before
any pixel is decoded, and only the formats we serve are ever tried.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps
from pillow_heif import register_heif_opener
from scipy import ndimage

# HEIC/HEIF, the format phones save photos in (iPhones by default), through libheif: only the
# primary image is decoded, already upright (libheif applies the file's own rotation and the
# EXIF orientation is reset, so `_orient` does not turn it twice).
register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "HEIF")
"""Pillow plugins tried on uploads; the others (EPS runs Ghostscript) are never reached."""

MNIST_SIDE = 28
DIGIT_BOX = 20
"""MNIST scaled each digit's longest side to 20 px..."""
CENTRE = 14.0
"""...and shifted it by whole pixels so its centre of mass (row, col) falls in [13.5, 14.5]."""
MIN_CONTRAST = 32.0
"""Ink must stand out this much (0-255 scale) from the background, else "no digit found"."""
FAINT_PEAK = 250.0
"""Every MNIST digit peaks at 254 or 255; a fainter 28x28 digit is stretched to 255."""
INK_THRESHOLD = 0.25
"""Fraction of the ink peak above which a pixel counts as ink for cropping."""
SPECK_FRACTION = 0.05
"""Ink blobs smaller than this fraction of the largest one are noise, not part of the digit."""
WORKING_SIDE = 512
"""Larger images are decoded (JPEG) or box-reduced to about this size: bounded work per image
and still 25 source pixels per output pixel for a digit filling the frame."""

DRAFT_SLACK = 0.97
"""JPEGs are decoded at the smallest scale at least this fraction of `WORKING_SIDE` long
(a 4000-px photo at 1/8: 500 px; a 950-px one stays whole rather than drop to 475)."""

MIN_STROKE, TARGET_STROKE = 1.8, 2.4
"""Stroke widths in output pixels: MNIST's are 2.0-4.1 (5th-95th percentile), median 2.6."""
COARSE_SIDE = 64
"""Ink blobs of larger images are found on a max-pooled copy about this size."""
SHRINK_SIDE = 2 * DIGIT_BOX
"""Crops of the digit larger than twice this are box-reduced before the float work."""

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageLimits:
    """Per-image limits; callers build it from their settings (core never reads settings)."""

    max_bytes: int
    max_pixels: int


class ImageError(ValueError):
    """An image we cannot turn into a digit; the message is shown to the user as is."""


NO_DIGIT = "no digit found"
"""`ImageError`'s message for a page with nothing on it that could be a digit."""


def to_mnist(data: bytes, limits: ImageLimits) -> np.ndarray:
    """Bytes of an uploaded image file to an MNIST-style uint8 (28, 28) array: the digit
    found on the page (`core.capture`), normalised."""
    from core.capture import read_digit  # capture builds on this module

    return read_digit(*decode_page(data, limits))[0]


def decode_image(data: bytes, limits: ImageLimits) -> np.ndarray:
    """Decode with Pillow to a grey 2-D array (uint8, or float32 on the 0-255 scale).

    Applies the EXIF orientation, composites transparency on a contrasting background and
    scales 16-bit and float images to 0-255. Very large images come back box-reduced to
    about `WORKING_SIDE` px (JPEGs are decoded at that scale directly).
    """
    return decode_page(data, limits, colour=False)[0]


def decode_page(data: bytes, limits: ImageLimits, colour: bool = True) -> tuple[np.ndarray, float]:
    """Decode like `decode_image`, keeping colour (RGB uint8 (h, w, 3)) where the file has
    it; and the scale: pixels of the upright original per returned pixel."""
    if not data:
        raise ImageError("empty file")
    if len(data) > limits.max_bytes:
        raise ImageError(f"file too large: {len(data)} bytes (limit {limits.max_bytes})")
    try:
        # Pillow warns, then fails, on its own pixel limit: both must reach us as errors. Its
        # other warnings ("Corrupt EXIF data"...) are about the user's file: not log-worthy.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            _check_size(image.size, limits)
            original = max(image.size)
            if image.format in ("JPEG", "MPO"):  # MPO: multi-picture JPEG from cameras
                _draft(image, colour)
            image.load()
            image = _orient(image)
            image = _colour(image) if colour else _grey(image)
            if max(image.size) >= 2 * WORKING_SIDE:
                image = image.reduce(max(image.size) // WORKING_SIDE)
            pixels = _pixels(image)
            if pixels.ndim == 3 and _is_grey(pixels):
                pixels = np.ascontiguousarray(pixels[..., 0])
            return pixels, original / max(image.size)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"too many pixels (limit {limits.max_pixels})") from None
    except Exception:
        # Fuzzed input makes Pillow raise OSError, SyntaxError, ValueError, struct.error,
        # EOFError, MemoryError...: to a user they all mean the same thing.
        log.debug("undecodable image (%d bytes)", len(data), exc_info=True)
        raise ImageError("not an image Pillow can read") from None


def normalise(grey: np.ndarray) -> np.ndarray:
    """A grey 2-D image (0-255 scale) to MNIST form: uint8 (28, 28), light ink on black."""
    g = np.asarray(grey)
    if g.ndim != 2 or g.size == 0:
        raise ImageError("not a 2-D grey image")
    if g.dtype != np.uint8:
        g = _finite_float(g)
    ink, background = _ink(g)
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise ImageError("no digit found")
    threshold = max(INK_THRESHOLD * peak, MIN_CONTRAST / 2)
    if g.shape == (MNIST_SIDE, MNIST_SIDE) and _in_mnist_form(ink, ink >= threshold):
        if peak < FAINT_PEAK:
            return _to_uint8(ink * np.float32(255.0 / peak))
        return ink.copy() if ink.dtype == np.uint8 else _to_uint8(ink)  # never the caller's
    rows, cols = _digit_box(ink, threshold)
    crop = _shrink(ink[rows, cols]).astype(np.float32)
    floor = min(_noise_floor(ink, background), threshold / 2)
    level = _mean_median(crop[crop >= INK_THRESHOLD * crop.max()])
    # Saturate the stroke cores like MNIST (about half its ink pixels are >= 217).
    crop = (crop - floor) * (255.0 / max(level - floor, 1.0))
    return _centre(_scale_to_box(_thicken(_to_uint8(crop))))


def ink_box(grey: np.ndarray) -> tuple[int, int, int, int]:
    """`(x, y, width, height)` of the ink `normalise` crops to (for small images)."""
    g = np.asarray(grey)
    if g.dtype != np.uint8:
        g = np.nan_to_num(g.astype(np.float32, copy=False), nan=0.0, posinf=255.0, neginf=0.0)
    ink, _ = _ink(g)
    peak = float(ink.max())
    rows, cols = _digit_box(ink, max(INK_THRESHOLD * peak, MIN_CONTRAST / 2))
    return cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start


def normalise_many(greys: Sequence[np.ndarray]) -> list[np.ndarray | ImageError]:
    """`normalise` of each image (its result, or its `ImageError`), in order.

    A batch service mostly receives images already in MNIST form (28x28, black border, a
    centred digit). For those, `normalise`'s checks (border median, peak, ink box, centre of
    mass: about 20 numpy calls, 35 us an image) run as a few array operations over the whole
    stack instead, with the same result bit for bit; any image the fast test does not
    accept goes through `normalise` itself.
    """
    out: list[np.ndarray | ImageError | None] = [None] * len(greys)
    small = [i for i, g in enumerate(greys)
             if g.dtype == np.uint8 and g.shape == (MNIST_SIDE, MNIST_SIDE)]
    if small:
        accepted, digits = _mnist_form_batch(np.stack([greys[i] for i in small]))
        for row in np.flatnonzero(accepted):
            out[small[row]] = digits[row]
    for i, grey in enumerate(greys):
        if out[i] is None:
            try:
                out[i] = normalise(grey)
            except ImageError as exc:
                out[i] = exc
    return out  # type: ignore[return-value]  # every position is filled above


def mnist_form_many(
    stack: np.ndarray,
) -> tuple[list[np.ndarray | None], list[tuple[int, int, int, int]]]:
    """For uint8 (n, 28, 28): `normalise`'s output of each image already in MNIST form
    (None for the others) and the box `(x, y, width, height)` of each one's ink."""
    if len(stack) == 0:
        return [], []
    accepted, digits = _mnist_form_batch(stack)
    peak = stack.reshape(len(stack), -1).max(axis=1).astype(np.float64)
    threshold = np.maximum(INK_THRESHOLD * peak, MIN_CONTRAST / 2)
    mask = stack >= threshold[:, None, None]
    rows_any, cols_any = mask.any(axis=2), mask.any(axis=1)
    top, left = rows_any.argmax(axis=1), cols_any.argmax(axis=1)
    height = MNIST_SIDE - rows_any[:, ::-1].argmax(axis=1) - top
    width = MNIST_SIDE - cols_any[:, ::-1].argmax(axis=1) - left
    boxes = [(int(x), int(y), int(w), int(h)) for x, y, w, h in zip(left, top, width, height,
                                                                     strict=True)]
    return [digits[i] if accepted[i] else None for i in range(len(stack))], boxes


def _mnist_form_batch(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For uint8 (n, 28, 28): which are in MNIST form on a black background (bool (n,)),
    and `normalise`'s output for those rows (other rows are garbage).

    Exactly `normalise`'s arithmetic: with a zero border median there is no inversion and
    no background to subtract; the centre-of-mass sums are integers, exact in float32 (below
    2^24) and in int64 alike; the faint-peak stretch uses the same float32 factor.
    """
    n = len(stack)
    flat = stack.reshape(n, -1)
    border = np.concatenate(
        (stack[:, 0], stack[:, -1], stack[:, 1:-1, 0], stack[:, 1:-1, -1]), axis=1
    )
    black = np.sort(border, axis=1)[:, border.shape[1] // 2] == 0  # `_median` of the border
    peak = flat.max(axis=1).astype(np.float64)
    threshold = np.maximum(INK_THRESHOLD * peak, MIN_CONTRAST / 2)
    mask = stack >= threshold[:, None, None]
    rows_any, cols_any = mask.any(axis=2), mask.any(axis=1)
    side = MNIST_SIDE
    height = side - rows_any[:, ::-1].argmax(axis=1) - rows_any.argmax(axis=1)
    width = side - cols_any[:, ::-1].argmax(axis=1) - cols_any.argmax(axis=1)
    row_mass = stack.sum(axis=2, dtype=np.int64)
    col_mass = stack.sum(axis=1, dtype=np.int64)
    total = np.maximum(row_mass.sum(axis=1), 1).astype(np.float64)
    index = np.arange(side, dtype=np.int64)
    cy, cx = (row_mass @ index) / total, (col_mass @ index) / total
    accepted = (
        black & (peak >= MIN_CONTRAST) & (height <= DIGIT_BOX) & (width <= DIGIT_BOX)
        & (np.abs(cy - CENTRE) <= 1.0) & (np.abs(cx - CENTRE) <= 1.0)
    )
    digits = stack.copy()
    faint = accepted & (peak < FAINT_PEAK)
    if faint.any():
        factor = (255.0 / peak[faint]).astype(np.float32)[:, None, None]
        digits[faint] = _to_uint8(stack[faint] * factor)
    return accepted, digits


def _check_size(size: tuple[int, int], limits: ImageLimits) -> None:
    """Refuse from the header alone: a decompression bomb never gets its pixels decoded."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError("image has no pixels")
    if width * height > limits.max_pixels:
        raise ImageError(
            f"too many pixels: {width}x{height} (limit {limits.max_pixels})"
        )


def _draft(image: Image.Image, colour: bool) -> None:
    """Let libjpeg decode at a reduced scale when the image is large (straight to grey
    unless colour is wanted)."""
    width, height = image.size
    # libjpeg scales by 1/2, 1/4 or 1/8 and Pillow keeps at least the size asked for:
    # asking for 3% less than the working side lets a 4000-px photo decode at 1/8
    # (500 px, what the capture front-end analyses) instead of 1/4 (1000 px).
    scale = max(width, height) / (DRAFT_SLACK * WORKING_SIDE)
    if scale > 1:
        width, height = math.ceil(width / scale), math.ceil(height / scale)
    image.draft("RGB" if colour and image.mode != "L" else "L", (width, height))


def _orient(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phone photos are often stored sideways)."""
    if image.format != "TIFF" and "exif" not in image.info:
        return image  # no EXIF block: skip parsing (this is the hot path)
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (1, None):
        return image
    return ImageOps.exif_transpose(image)


def _grey(image: Image.Image) -> Image.Image:
    """One channel: L (uint8) or F (float32 on the 0-255 scale)."""
    mode = image.mode
    if image.has_transparency_data:  # an alpha channel or a transparent colour
        return _composite(image)
    if mode == "L":
        return image
    if mode.startswith("I"):
        # I;16* holds 16-bit samples; I (32-bit) holds whatever was stored: 16-bit scale
        # unless every value fits in 8 bits.
        wide = np.asarray(image).astype(np.float32)
        if mode != "I" or (wide.size and wide.max() > 255):
            wide /= 257.0
        return Image.fromarray(np.clip(wide, 0.0, 255.0))
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
        if values.size and values.min() >= 0.0 and values.max() <= 1.0:
            values = values * 255.0
        return Image.fromarray(np.clip(values, 0.0, 255.0).astype(np.float32))
    try:
        return image.convert("L")
    except ValueError:  # modes Pillow only converts via RGB (LAB, HSV...)
        return image.convert("RGB").convert("L")


def _colour(image: Image.Image) -> Image.Image:
    """RGB when the image has colour (and no transparency), else `_grey`'s one channel."""
    if image.mode in ("RGB", "YCbCr", "CMYK", "P") and not image.has_transparency_data:
        return image.convert("RGB")
    return _grey(image)


def _is_grey(rgb: np.ndarray) -> bool:
    """Whether the three channels are the same (a grey palette, a grey JPEG saved as RGB)."""
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def _composite(image: Image.Image) -> Image.Image:
    """Flatten transparency onto a background that makes the drawing visible.

    Sparse opaque strokes on a transparent canvas get the opposite of their own colour
    behind them (so white-on-transparent and black-on-transparent both work); a mostly
    opaque picture gets its own paper colour in its transparent margins.
    """
    la = np.asarray(image.convert("RGBA").convert("LA"), dtype=np.float32)
    grey, alpha = la[..., 0], la[..., 1] / 255.0
    weight = float(alpha.sum())
    if weight >= alpha.size:  # fully opaque
        return Image.fromarray(grey)
    if weight == 0.0:  # fully transparent: nothing drawn
        return Image.fromarray(np.zeros_like(grey))
    if weight > alpha.size / 2:
        background = float(np.median(grey[alpha > 0.5])) if (alpha > 0.5).any() else 0.0
    else:
        background = 255.0 if float((grey * alpha).sum()) / weight < 128.0 else 0.0
    return Image.fromarray(grey * alpha + background * (1.0 - alpha))


def _pixels(image: Image.Image) -> np.ndarray:
    """The L, F or RGB image's pixels as an array (a little cheaper than `np.asarray`)."""
    width, height = image.size
    if image.mode == "RGB":
        return np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(height, width, 3)
    dtype = np.uint8 if image.mode == "L" else np.float32
    return np.frombuffer(image.tobytes(), dtype=dtype).reshape(height, width)


def _median(values: np.ndarray) -> float:
    """Upper median: `np.median`'s overhead is most of the cost on small images."""
    return float(np.sort(values)[values.size // 2])


def _mean_median(values: np.ndarray) -> float:
    """`np.median` (the mean of the two middle values of an even count) by a sort: the same
    number, without `np.median`'s overhead, most of its cost on a digit-sized piece."""
    ordered = np.sort(values, axis=None)
    middle = ordered.size // 2
    return float(np.mean(ordered[middle - 1 + ordered.size % 2:middle + 1]))


def _finite_float(g: np.ndarray) -> np.ndarray:
    """float32, NaN to 0 and infinities to the 0-255 scale's ends; a finite float32 image
    as it is (`np.nan_to_num`'s copy and masks cost more than the check on a small piece;
    nothing downstream writes into it)."""
    g = g.astype(np.float32, copy=False)
    if np.isfinite(g).all():
        return g
    return np.nan_to_num(g, nan=0.0, posinf=255.0, neginf=0.0)


def _grey_image(values: np.ndarray) -> Image.Image:
    """A uint8 2-D array as an L image (`Image.fromarray`'s checks cost more than the
    copy on a digit-sized piece)."""
    height, width = values.shape
    return Image.frombytes("L", (width, height), np.ascontiguousarray(values).tobytes())


def _centre_of_mass(values: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of mass; scipy's generic version costs 80 us on a 28x28."""
    weights = values.astype(np.float32)
    rows, cols = weights.sum(axis=1), weights.sum(axis=0)
    total = float(rows.sum())
    return (
        float(rows @ np.arange(rows.size, dtype=np.float32)) / total,
        float(cols @ np.arange(cols.size, dtype=np.float32)) / total,
    )


def _border(g: np.ndarray) -> np.ndarray:
    """The outermost rows and columns: where the background is."""
    return np.concatenate((g[0], g[-1], g[1:-1, 0], g[1:-1, -1]))


def _ink(g: np.ndarray) -> tuple[np.ndarray, float]:
    """Light-on-dark ink with the background level subtracted, and that level.

    The background is the border's median; if it is nearer the brightest value than the
    darkest one, the image is dark ink on light paper and is inverted.
    """
    background = _median(_border(g))
    low, high = float(g.min()), float(g.max())
    if background - low > high - background:
        g = 255 - g
        background = 255.0 - background
    if background == 0.0:
        return g, 0.0
    # Saturating subtraction; an array operand keeps numpy on its fast (SIMD) maximum.
    floor = np.full_like(g, background)
    np.maximum(g, floor, out=floor)
    floor -= g.dtype.type(background)
    return floor, background


def _in_mnist_form(ink: np.ndarray, mask: np.ndarray) -> bool:
    """A 28x28 whose ink fits MNIST's 20 px box and whose centre of mass is MNIST's."""
    rows, cols = extent(mask)
    if rows.stop - rows.start > DIGIT_BOX or cols.stop - cols.start > DIGIT_BOX:
        return False
    cy, cx = _centre_of_mass(ink)
    return abs(cy - CENTRE) <= 1.0 and abs(cx - CENTRE) <= 1.0


def _digit_box(ink: np.ndarray, threshold: float) -> tuple[slice, slice]:
    """Bounding box of the digit's ink, dust and noise specks left out.

    Blobs are found on a max-pooled copy of large images (thin strokes survive max
    pooling), then the box is refined at full resolution.
    """
    step = max(1, max(ink.shape) // COARSE_SIDE)
    coarse = _max_pool(ink, step) if step > 1 else ink
    rows, cols = _extent_without_specks(coarse >= threshold)
    if step == 1:
        return rows, cols
    rows = slice(rows.start * step, min(rows.stop * step, ink.shape[0]))
    cols = slice(cols.start * step, min(cols.stop * step, ink.shape[1]))
    inner_rows, inner_cols = extent(ink[rows, cols] >= threshold)
    return (
        slice(rows.start + inner_rows.start, rows.start + inner_rows.stop),
        slice(cols.start + inner_cols.start, cols.start + inner_cols.stop),
    )


def _max_pool(values: np.ndarray, step: int) -> np.ndarray:
    """Maximum over step x step blocks (strided maxima: 10x faster than `reduceat`)."""
    height, width = values.shape
    padded = np.zeros((-(-height // step) * step, -(-width // step) * step), values.dtype)
    padded[:height, :width] = values
    rows = padded[::step]
    for offset in range(1, step):
        rows = np.maximum(rows, padded[offset::step])
    pooled = rows[:, ::step]
    for offset in range(1, step):
        pooled = np.maximum(pooled, rows[:, offset::step])
    return pooled


def _extent_without_specks(mask: np.ndarray) -> tuple[slice, slice]:
    """`extent` of the mask without dust and sensor noise (blobs far smaller than the
    largest stroke): the union of the kept blobs' boxes, not a mask of them (a fancy index
    and a scan of the piece fewer)."""
    labels, count = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    if count <= 1:
        return extent(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    boxes = ndimage.find_objects(labels)
    kept = [boxes[label - 1] for label in np.flatnonzero(sizes >= SPECK_FRACTION * sizes.max())]
    return (slice(min(r.start for r, _ in kept), max(r.stop for r, _ in kept)),
            slice(min(c.start for _, c in kept), max(c.stop for _, c in kept)))


def _shrink(crop: np.ndarray) -> np.ndarray:
    """Box-reduce a large crop to 2-4x the final 20 px: the steps after it get cheap, and
    the final resize still has enough pixels to anti-alias from."""
    factor = max(crop.shape) // SHRINK_SIDE
    if factor < 2:
        return crop
    return np.asarray(Image.fromarray(np.ascontiguousarray(crop)).reduce(factor))


def extent(mask: np.ndarray) -> tuple[slice, slice]:
    """Bounding box of the True pixels (there is at least one)."""
    return _span(mask.any(axis=1)), _span(mask.any(axis=0))


def component_boxes(labels: np.ndarray) -> np.ndarray:
    """Each component's box of `ndimage.label` output: int64 (count, 4), top, left, bottom,
    right (bottom and right past the end, as slices)."""
    return np.array([(s[0].start, s[1].start, s[0].stop, s[1].stop)
                     for s in ndimage.find_objects(labels)], dtype=np.int64).reshape(-1, 4)


def component_peaks(labels: np.ndarray, count: int, ink: np.ndarray) -> np.ndarray:
    """Each component's darkest ink, at its label (index 0, the background: 0). By
    `np.maximum.at`: `ndimage.maximum` sorts the whole page."""
    inside = labels > 0
    peaks = np.zeros(count + 1, dtype=ink.dtype)
    np.maximum.at(peaks, labels[inside], ink[inside])
    return peaks


def _span(present: np.ndarray) -> slice:
    return slice(int(present.argmax()), present.size - int(present[::-1].argmax()))


def _noise_floor(ink: np.ndarray, background: float) -> float:
    """Ink level the background's own noise (JPEG, sensor) reaches."""
    if background == 0.0 and ink.dtype == np.uint8:
        return 0.0
    border = _border(ink)
    return float(np.partition(border, border.size * 95 // 100)[border.size * 95 // 100])


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(values, 0, 255).round().astype(np.uint8)


def stroke_width(ink: np.ndarray) -> float:
    """The mean width of the strokes of a mask, in pixels: 2 x its area over its boundary
    length (the pixels with a 4-neighbour outside it; a band w px wide and L long: 2wL / 2L)."""
    mask = np.zeros((ink.shape[0] + 2, ink.shape[1] + 2), dtype=bool)  # (np.pad: 15x slower)
    mask[1:-1, 1:-1] = ink
    inside = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    area = int(np.count_nonzero(mask))
    boundary = area - int(np.count_nonzero(inside))
    return 2.0 * area / max(boundary, 1)


def _thicken(crop: np.ndarray) -> np.ndarray:
    """Widen strokes that would come out thinner than MNIST's pen (thin brushes, big canvases).

    Stroke width is estimated as 2 x area / boundary length of the ink, measured on the crop
    while it still has at least twice the output resolution.
    """
    scale = DIGIT_BOX / max(crop.shape)
    if scale > 0.5:
        return crop
    width = stroke_width(crop >= 128) * scale
    radius = round((TARGET_STROKE - width) / (2.0 * scale))
    if width >= MIN_STROKE or radius < 1:
        return crop
    return _pixels(_grey_image(crop).filter(ImageFilter.MaxFilter(2 * radius + 1)))


def _scale_to_box(crop: np.ndarray) -> np.ndarray:
    """Longest side to 20 px, aspect ratio kept, anti-aliased; then the peak back at 255."""
    height, width = crop.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    digit = _pixels(_grey_image(crop).resize(size, Image.Resampling.LANCZOS))
    peak = int(digit.max())
    if 0 < peak < 255:
        digit = _to_uint8(digit.astype(np.float32) * (255.0 / peak))
    return digit


def _centre(digit: np.ndarray) -> np.ndarray:
    """Place in 28x28 with the centre of mass at MNIST's centre (whole-pixel shift)."""
    cy, cx = _centre_of_mass(digit)
    top, left = round(CENTRE - cy), round(CENTRE - cx)
    out = np.zeros((MNIST_SIDE, MNIST_SIDE), dtype=np.uint8)
    height, width = digit.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + height, MNIST_SIDE), min(left + width, MNIST_SIDE)
    out[r0:r1, c0:c1] = digit[r0 - top : r1 - top, c0 - left : c1 - left]
    return out
