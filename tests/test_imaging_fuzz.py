"""Fuzzed uploads: decoding and normalising give a 28x28 uint8 or an `ImageError`, nothing else."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.imaging import ImageError, ImageLimits, normalise, to_mnist
from tests.support import encode

LIMITS = ImageLimits(max_bytes=1 << 20, max_pixels=1 << 20)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "I", "I;16", "F", "CMYK", "PA"]
FORMATS = {  # what each format can store, as Pillow writes it
    "PNG": {"1", "L", "P", "RGB", "RGBA", "LA", "I;16"},
    "JPEG": {"L", "RGB", "CMYK"},
    "BMP": {"1", "L", "P", "RGB", "RGBA"},
    "GIF": {"1", "L", "P"},
    "TIFF": {"1", "L", "P", "RGB", "RGBA", "LA", "I", "I;16", "F", "CMYK"},
    "WEBP": {"RGB", "RGBA"},
}


def check(data: bytes, limits: ImageLimits = LIMITS) -> None:
    """The contract: a (28, 28) uint8 array, or an ImageError with a message."""
    try:
        out = to_mnist(data, limits)
    except ImageError as exc:
        assert str(exc)
        return
    assert out.shape == (28, 28) and out.dtype == np.uint8


@st.composite
def images(draw) -> tuple[bytes, str]:
    """A small random image in a random mode, size, content and format."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(sorted(FORMATS[fmt])))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    kind = draw(st.sampled_from(["noise", "blank", "blob"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "noise":
        grey = rng.integers(0, 256, (height, width), dtype=np.uint8)
    else:
        grey = np.full((height, width), draw(st.integers(0, 255)), dtype=np.uint8)
        if kind == "blob":
            r, c = rng.integers(0, height), rng.integers(0, width)
            grey[r : r + max(1, height // 3), c : c + max(1, width // 4)] = 255 - grey[0, 0]
    image = Image.fromarray(grey)
    if mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)
    elif mode != "L":
        image = image.convert(mode)
    options = {}
    if fmt == "GIF" and draw(st.booleans()):
        options = {"save_all": True, "append_images": [image.transpose(Image.Transpose.ROTATE_180)]}
    if fmt in ("JPEG", "WEBP", "PNG") and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 9))
        options["exif"] = exif
    return encode(image, fmt, **options), fmt


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    check(data)


@FUZZ
@given(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\0",
                        b"MM\0*", b"RIFF\0\0\0\0WEBPVP8 ",
                        b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"]), st.binary(max_size=512))
def test_random_bytes_behind_a_real_signature(signature, tail):
    check(signature + tail)


@FUZZ
@given(images())
def test_random_small_images(image):
    check(image[0])


@FUZZ
@given(images(), st.floats(0, 1))
def test_truncated_files(image, fraction):
    data = image[0]
    check(data[: int(len(data) * fraction)])


@FUZZ
@given(images(), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_files(image, flips):
    data = bytearray(image[0])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    check(bytes(data))


@FUZZ
@given(images(), st.integers(1, 64))
def test_tight_pixel_limit(image, max_pixels):
    check(image[0], ImageLimits(max_bytes=1 << 20, max_pixels=max_pixels))


@FUZZ
@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from([np.uint8, np.float32, np.float64,
                                                                  np.uint16, np.int32]),
       st.integers(0, 2**32 - 1))
def test_normalise_on_arrays(height, width, dtype, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, (height, width)).astype(dtype)
    if dtype in (np.float32, np.float64) and seed % 3 == 0:
        values[0, 0] = [np.nan, np.inf, -np.inf][seed % 9 // 3]
    try:
        out = normalise(values)
    except ImageError:
        return
    assert out.shape == (28, 28) and out.dtype == np.uint8


@FUZZ
@given(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_declared_dimensions(width, height):
    from tests.test_imaging import png_header

    check(png_header(width, height))
