"""Any uploaded image becomes an MNIST-style 28x28, and bad uploads are per-file errors."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from core.capture import read_digit
from core.data import load_split
from core.imaging import (
    ImageError,
    ImageLimits,
    component_boxes,
    component_peaks,
    decode_image,
    decode_page,
    normalise,
    to_mnist,
)
from tests.support import encode

LIMITS = ImageLimits(max_bytes=16 * 2**20, max_pixels=40_000_000)
IMAGES_TEST = Path(__file__).resolve().parent.parent / "images_test"


@pytest.fixture(scope="module")
def digits(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    return load_split(data_dir, "test", limit=200)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` grey pixels, with a tiny IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


# --- MNIST's own images pass through unchanged -------------------------------------------

def test_mnist_png_round_trip_is_exact(digits):
    images, _ = digits
    for image in images:
        out = to_mnist(encode(image), LIMITS)
        assert out.dtype == np.uint8 and out.shape == (28, 28)
        np.testing.assert_array_equal(out, image)


def test_committed_samples_round_trip(data_dir):
    images, _ = load_split(data_dir, "test", limit=100)
    for path in sorted(IMAGES_TEST.glob("*.png")):
        index = int(path.stem.split("_test")[1])
        np.testing.assert_array_equal(to_mnist(path.read_bytes(), LIMITS), images[index])


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda x: encode(255 - x), id="inverted"),
        pytest.param(lambda x: encode(np.stack([x, x, x], axis=-1)), id="rgb"),
        pytest.param(lambda x: encode(255 - np.stack([x, x, x], axis=-1)), id="rgb-inverted"),
        pytest.param(lambda x: encode(x.astype(np.uint16) * 257), id="16-bit"),
        pytest.param(lambda x: encode(_palette(x)), id="palette"),
        pytest.param(lambda x: encode(_rgba(x, ink=255)), id="white-ink-on-transparent"),
        pytest.param(lambda x: encode(_rgba(x, ink=0)), id="black-ink-on-transparent"),
        pytest.param(lambda x: encode(x, "BMP"), id="bmp"),
        pytest.param(lambda x: encode(x, "TIFF"), id="tiff"),
        pytest.param(lambda x: encode(x, "WEBP", lossless=True), id="webp-lossless"),
        pytest.param(lambda x: encode(_palette(x), "GIF"), id="gif"),
        pytest.param(lambda x: _exif_rotated(x, "PNG"), id="exif-rotated-png"),
    ],
)
def test_lossless_variants_give_the_same_array(digits, variant):
    images, _ = digits
    for image in images[:20]:
        np.testing.assert_array_equal(to_mnist(variant(image), LIMITS), image)


def _palette(x: np.ndarray) -> Image.Image:
    image = Image.frombytes("P", (28, 28), x.tobytes())
    image.putpalette([v for i in range(256) for v in (i, i, i)])
    return image


def _rgba(x: np.ndarray, ink: int) -> np.ndarray:
    """The digit as strokes of colour `ink` whose opacity is the MNIST intensity."""
    rgba = np.full((28, 28, 4), ink, dtype=np.uint8)
    rgba[..., 3] = x
    return rgba


def _exif_rotated(x: np.ndarray, fmt: str, **options) -> bytes:
    """Stored sideways with EXIF orientation 6 ("rotate 90 clockwise to display"). Given as
    bytes, pillow-heif also writes it as HEIF's own rotation, as phones do (readers follow
    that one and ignore the EXIF tag)."""
    image = Image.fromarray(x).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, fmt, exif=exif.tobytes(), **options)


def test_exif_rotated_jpeg_is_turned_upright(digits):
    images, _ = digits
    image = images[0]
    out = to_mnist(_exif_rotated(image, "JPEG", quality=95), LIMITS).astype(float)
    upright = np.corrcoef(out.ravel(), image.ravel())[0, 1]
    sideways = np.corrcoef(out.ravel(), np.rot90(image).ravel())[0, 1]
    assert upright > 0.95 > sideways


def test_a_heic_phone_photo_stored_sideways_is_read_upright_with_its_box(digits):
    """Phones save photos as HEIC, often sideways with an orientation to display them by."""
    images, _ = digits
    image = images[0]
    page = np.full((150, 200), 235, dtype=np.uint8)  # grey paper, dark ink, 4x MNIST's size
    big = np.asarray(Image.fromarray(image).resize((112, 112), Image.Resampling.BILINEAR))
    page[20:132, 60:172] = (235 - big.astype(np.float32) * 0.8).astype(np.uint8)
    rows, cols = np.nonzero(page < 200)
    data = _exif_rotated(page, "HEIF", quality=90)
    assert Image.open(io.BytesIO(data)).format == "HEIF"
    pixels, scale = decode_page(data, LIMITS)
    assert pixels.shape == (150, 200)
    digit, box = read_digit(pixels, scale)
    x, y, w, h = box
    assert abs(x - cols.min()) <= 3 and abs(y - rows.min()) <= 3
    assert abs(x + w - 1 - cols.max()) <= 3 and abs(y + h - 1 - rows.max()) <= 3
    upright = np.corrcoef(digit.ravel().astype(float), image.ravel())[0, 1]
    sideways = np.corrcoef(digit.ravel().astype(float), np.rot90(image).ravel())[0, 1]
    assert upright > 0.9 > sideways


def test_animated_gif_uses_the_first_frame(digits):
    images, _ = digits
    frames = [_palette(images[0]), _palette(images[1])]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    np.testing.assert_array_equal(to_mnist(data, LIMITS), images[0])


def test_gif_with_transparent_background(digits):
    images, _ = digits
    image = _palette(images[0])
    data = encode(image, "GIF", transparency=0)
    np.testing.assert_array_equal(to_mnist(data, LIMITS), images[0])


# --- other images are brought to MNIST's form ---------------------------------------------

def _on_canvas(x: np.ndarray, size: tuple[int, int], at: tuple[int, int], scale: int) -> np.ndarray:
    """Dark ink on white paper, the digit enlarged `scale` times at `at` (row, col)."""
    big = np.asarray(Image.fromarray(x).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC))
    canvas = np.zeros(size, dtype=np.uint8)
    canvas[at[0] : at[0] + big.shape[0], at[1] : at[1] + big.shape[1]] = big
    return 255 - canvas


def _photo(x: np.ndarray, seed: int = 0) -> bytes:
    """A 400x400 JPEG "photo": grey paper with a lighting gradient and noise, bluish ink."""
    rng = np.random.default_rng(seed)
    ink = 255 - _on_canvas(x, (400, 400), (40, 70), 10).astype(np.float32)
    paper = 195 + 25 * np.linspace(-1, 1, 400)[None, :] + rng.normal(0, 5, (400, 400))
    grey = paper - ink / 255 * 140
    rgb = np.stack([grey * 0.9, grey * 0.95, grey], axis=-1)
    return encode(np.clip(rgb, 0, 255).astype(np.uint8), "JPEG", quality=85)


def _assert_mnist_like(out: np.ndarray) -> None:
    assert out.shape == (28, 28) and out.dtype == np.uint8
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 22
    weights = out.astype(float)
    cy = (weights.sum(axis=1) @ np.arange(28)) / weights.sum()
    cx = (weights.sum(axis=0) @ np.arange(28)) / weights.sum()
    assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6
    assert out.max() == 255 and out[0].max() == 0 and out[:, 0].max() == 0


def test_off_centre_digit_on_large_canvas_is_cropped_scaled_and_centred(digits):
    images, _ = digits
    for image in images[:20]:
        data = encode(_on_canvas(image, (300, 500), (200, 20), 3))
        out = to_mnist(data, LIMITS)
        _assert_mnist_like(out)
        assert np.corrcoef(out.ravel(), image.ravel())[0, 1] > 0.6


def test_photo_of_a_digit(digits):
    images, _ = digits
    out = to_mnist(_photo(images[0]), LIMITS)
    _assert_mnist_like(out)
    assert np.corrcoef(out.ravel(), images[0].ravel())[0, 1] > 0.8


def test_dust_around_the_digit_is_ignored(digits):
    images, _ = digits
    clean = _on_canvas(images[0], (400, 400), (100, 100), 6)
    dusty = clean.copy()
    for row, col in [(5, 5), (380, 20), (30, 390), (390, 390), (200, 20)]:
        dusty[row : row + 3, col : col + 3] = 0
    np.testing.assert_array_equal(to_mnist(encode(dusty), LIMITS), to_mnist(encode(clean), LIMITS))


def test_thin_and_thick_pens_give_similar_strokes():
    """A 2 px brush on a 400 px canvas comes out about as bold as MNIST's pen."""
    inked = []
    for width in (2, 30):
        image = Image.new("L", (400, 400), 255)
        draw = ImageDraw.Draw(image)
        draw.line([(120, 80), (280, 80), (180, 330)], fill=0, width=width)
        inked.append(int(np.count_nonzero(to_mnist(encode(image), LIMITS) > 127)))
    assert inked[0] >= 0.7 * inked[1]


def test_digit_filling_a_small_canvas_is_rescaled():
    """A 28x28 drawing edge to edge is not in MNIST form: it gets the 20 px box."""
    drawing = np.zeros((28, 28), dtype=np.uint8)
    drawing[:, 12:16] = 255
    drawing[0:4, 4:16] = 255
    out = normalise(drawing)
    _assert_mnist_like(out)


def test_extreme_aspect_ratio():
    """A dash on a long strip (a dash across the whole strip would be a printed line): the
    normalisation keeps it flat, and a page holding only it has no digit (no digit is 25
    times as wide as tall)."""
    canvas = np.full((40, 500), 255, dtype=np.uint8)
    canvas[18:22, 200:300] = 0
    out = normalise(255 - canvas)
    assert out.shape == (28, 28) and np.count_nonzero(out.any(axis=1)) <= 3
    assert np.count_nonzero(out.any(axis=0)) == 20
    with pytest.raises(ImageError, match="no digit found"):
        to_mnist(encode(canvas), LIMITS)


def test_normalise_accepts_float_images(digits):
    images, _ = digits
    np.testing.assert_array_equal(normalise(images[0].astype(np.float32)), images[0])
    with pytest.raises(ImageError):
        normalise(np.zeros((28, 28, 3), dtype=np.uint8))


@pytest.mark.parametrize("mode", ["1", "L", "I", "F", "CMYK", "LA", "P", "RGB"])
def test_every_mode_decodes_to_grey(mode):
    image = Image.new("L", (40, 30), 255)
    image.paste(0, (10, 5, 30, 25))
    converted = image.convert(mode)
    fmt = {"1": "PNG", "I": "TIFF", "F": "TIFF", "CMYK": "JPEG", "LA": "PNG"}.get(mode, "PNG")
    grey = decode_image(encode(converted, fmt), LIMITS)
    assert grey.shape == (30, 40) and grey.ndim == 2
    assert to_mnist(encode(converted, fmt), LIMITS).shape == (28, 28)


def test_large_jpeg_is_decoded_reduced():
    big = np.full((3000, 2000), 255, dtype=np.uint8)
    big[1000:2000, 800:1200] = 0
    grey = decode_image(encode(big, "JPEG"), LIMITS)
    assert max(grey.shape) < 1024
    _assert_mnist_like(to_mnist(encode(big, "JPEG"), LIMITS))


# --- per-file errors ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encode(np.full((28, 28), 255, np.uint8)), id="white"),
        pytest.param(encode(np.zeros((28, 28), np.uint8)), id="black"),
        pytest.param(encode(np.full((300, 200), 128, np.uint8), "JPEG"), id="grey-jpeg"),
        pytest.param(encode(np.zeros((50, 50, 4), np.uint8)), id="fully-transparent"),
        pytest.param(encode(np.full((1, 1), 7, np.uint8)), id="one-pixel"),
    ],
)
def test_blank_image_is_no_digit_found(data):
    with pytest.raises(ImageError, match="no digit found"):
        to_mnist(data, LIMITS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty file", id="empty"),
        pytest.param(b"hello, this is not an image\n" * 10, "not an image", id="text"),
        pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n", "not an image",
                     id="eps-never-reaches-ghostscript"),
        pytest.param(png_header(0, 10), "not an image", id="zero-width"),
    ],
)
def test_unreadable_input_is_an_image_error(data, message):
    with pytest.raises(ImageError, match=message):
        to_mnist(data, LIMITS)


def test_truncated_png_is_an_image_error(digits):
    images, _ = digits
    data = encode(np.tile(images[0], (4, 4)))
    for cut in (8, 30, len(data) // 4, len(data) // 2, len(data) * 3 // 4):
        with pytest.raises(ImageError):
            to_mnist(data[:cut], LIMITS)


def test_file_over_the_byte_limit_is_refused(digits):
    images, _ = digits
    data = encode(images[0])
    with pytest.raises(ImageError, match="file too large"):
        to_mnist(data, ImageLimits(max_bytes=len(data) - 1, max_pixels=10**6))


@pytest.mark.parametrize(
    ("width", "height", "max_pixels"),
    [(100_000, 100_000, 40_000_000), (1001, 1000, 1_000_000), (30_000, 30_000, 10**12)],
    ids=["huge-header", "just-over-limit", "pillow-own-bomb-limit"],
)
def test_huge_declared_dimensions_are_refused_before_decoding(
    width, height, max_pixels, pixel_loads
):
    with pytest.raises(ImageError, match="too many pixels"):
        to_mnist(png_header(width, height), ImageLimits(10**6, max_pixels))
    assert pixel_loads == []  # refused from the header: not one pixel decoded


def test_real_decompression_bomb_is_refused_before_decoding(pixel_loads):
    bomb = encode(Image.new("L", (5000, 5000)))  # 25 Mpx of zeros in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(ImageError, match="too many pixels"):
        to_mnist(bomb, ImageLimits(max_bytes=10**6, max_pixels=10**6))
    assert pixel_loads == []
    decode_image(bomb, ImageLimits(max_bytes=10**6, max_pixels=25 * 10**6))  # under the limit...
    assert (5000, 5000) in pixel_loads  # ...the same file is decoded: the spy sees it


@pytest.fixture()
def pixel_loads(monkeypatch) -> list[tuple[int, int]]:
    """The sizes of the images whose pixels Pillow decodes (`ImageFile.load`) meanwhile."""
    loads: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def load(image):
        loads.append(image.size)
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return loads


# --- degraded versions of MNIST digits mostly keep their prediction ----------------------

VARIANTS = {
    "inverted": lambda x: encode(255 - x),
    "off-centre-large-canvas": lambda x: encode(_on_canvas(x, (300, 500), (200, 20), 3)),
    "rgb": lambda x: encode(np.stack([x, x // 2, x], axis=-1)),
    "rgba-on-transparent": lambda x: encode(_rgba(x, ink=0)),
    "jpeg": lambda x: encode(x, "JPEG", quality=75),
    "photo-400px-jpeg": _photo,
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants_keep_the_prediction(small_model, digits, name):
    images, _ = digits
    images = images[:60]
    expected = small_model.predict(images).labels
    variants = np.stack([to_mnist(VARIANTS[name](x), LIMITS) for x in images])
    agreement = float(np.mean(small_model.predict(variants).labels == expected))
    assert agreement >= 0.9, f"{name}: {agreement:.0%} keep their prediction"


def test_components_give_their_boxes_and_darkest_ink_by_label():
    """The front-ends' marks are measured by these: a box past its last pixel, as a slice
    ends, and the background's darkest ink 0 at label 0 (a page with no mark: no boxes)."""
    ink = np.zeros((6, 8), np.float32)
    ink[1:3, 1:4] = [[0.2, 0.9, 0.2], [0.3, 0.3, 0.3]]
    ink[4, 5:8] = 0.5
    labels = np.zeros(ink.shape, np.int32)
    labels[1:3, 1:4], labels[4, 5:8] = 1, 2
    assert component_boxes(labels).tolist() == [[1, 1, 3, 4], [4, 5, 5, 8]]
    assert component_peaks(labels, 2, ink).tolist() == pytest.approx([0.0, 0.9, 0.5])
    assert component_boxes(np.zeros((3, 3), np.int32)).shape == (0, 4)
