"""Reading a number on one image (core/numbers.py): digits found left to right, broken
strokes kept together, specks dropped, touching digits split, bad pages refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.data import load_split
from core.imaging import ImageError, ImageLimits
from core.numbers import MAX_CANDIDATES, read_number, segment
from core.pipeline import predict_files
from tests.support import encode

PAPER = 245.0


@pytest.fixture(scope="module")
def mnist_test(data_dir):
    return load_split(data_dir, "test", limit=400)


def digits_of(images, labels, text: str) -> list[np.ndarray]:
    """One MNIST test image per character of `text`, the first of each label."""
    return [images[int(np.flatnonzero(labels == int(c))[0])] for c in text]


def write_row(digits: list[np.ndarray], height: int = 56, gap: float = 0.3,
              rises: list[float] | None = None, pad: int = 30) -> np.ndarray:
    """Dark ink on light paper: each digit's ink cropped, scaled to `height`, `gap` digit
    heights apart (negative: overlapping), its bottom raised by `rises[i]` px."""
    pieces = []
    for digit in digits:
        rows, cols = np.flatnonzero(digit.max(1) > 30), np.flatnonzero(digit.max(0) > 30)
        crop = digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        width = max(1, round(crop.shape[1] * height / crop.shape[0]))
        pieces.append(np.asarray(Image.fromarray(crop).resize((width, height),
                                                             Image.Resampling.BILINEAR)))
    rises = rises or [0.0] * len(digits)
    total = sum(p.shape[1] for p in pieces) + int(gap * height * (len(pieces) - 1))
    span = int(max(abs(r) for r in rises))
    cover = np.zeros((height + 2 * pad + 2 * span, total + 2 * pad), np.float32)
    x = pad
    for piece, rise in zip(pieces, rises, strict=True):
        top = pad + span - int(rise)
        region = cover[top:top + height, x:x + piece.shape[1]]
        np.maximum(region, piece / 255.0, out=region)
        x += piece.shape[1] + int(gap * height)
    return (PAPER - cover * (PAPER - 20)).astype(np.uint8)


def test_a_clean_row_is_read_left_to_right_with_a_box_per_digit(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "02139"))
    number = read_number(small_model, page)
    assert number.text == "02139"  # the leading zero is kept
    xs = [d.box[0] for d in number.digits]
    assert xs == sorted(xs)
    for digit in number.digits:
        _, y, w, h = digit.box
        assert 25 <= y <= 35 and 50 <= h <= 60 and w > 0
    assert 0 < number.confidence <= min(d.confidence for d in number.digits)


def test_a_drifting_baseline_keeps_the_order(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "73841"), rises=[0, 12, 24, 36, 48])
    assert read_number(small_model, page).text == "73841"


def test_a_broken_stroke_stays_one_digit(mnist_test):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "383"))
    # cut the middle digit in two along a row: a detached top, as a 5's bar
    x0 = page.shape[1] // 2 - 20
    page[50:53, x0:x0 + 40] = PAPER
    assert len(segment(page).groups) == 3


def test_specks_and_a_decimal_point_are_dropped(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "1234"), gap=0.5)
    height = 56
    columns = (page < 128).any(axis=0)
    centre = int(np.median(np.flatnonzero(~columns[30:-30]) + 30))  # in a gap between digits
    page[30 + height - 6:30 + height, centre - 3:centre + 3] = 20  # a point on the baseline
    page[5:7, 5:7] = 60  # dust
    assert read_number(small_model, page).text == "1234"


def test_touching_digits_are_split_by_recognition(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "4096"), gap=-0.05)
    number = read_number(small_model, page)
    assert number.text == "4096"


def test_a_blank_page_has_no_digit():
    with pytest.raises(ImageError, match="no digit found"):
        segment(np.full((200, 400), 240, np.uint8))


def test_a_page_of_marks_is_not_a_number():
    page = np.full((400, 1000), 240, np.uint8)
    for row in range(5):
        for col in range(10):  # 50 digit-sized blobs
            page[20 + row * 75:70 + row * 75, 20 + col * 95:50 + col * 95] = 20
    with pytest.raises(ImageError, match="too many marks to read as a number"):
        segment(page)


def test_an_mnist_image_is_a_one_digit_number(mnist_test, small_model):
    images, labels = mnist_test
    number = read_number(small_model, images[0])
    assert number.text == str(labels[0]) and len(number.digits) == 1


def test_the_work_per_image_is_bounded(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "8888888888"), gap=-0.1)  # one long blob
    found = segment(page)
    assert len(found.digits) <= MAX_CANDIDATES


def test_encoded_files_go_through_the_pipeline(mnist_test, small_model):
    images, labels = mnist_test
    good = encode(write_row(digits_of(images, labels, "907")), "PNG")
    blank = encode(np.full((100, 300), 250, np.uint8), "PNG")
    results = predict_files(small_model, [(0, "a.png", good), (1, "b.png", blank),
                                          (2, "c.png", b"nope")],
                            ImageLimits(10**7, 10**8), read="number")
    first, second, third = (r.to_dict() for r in results)
    assert first["text"] == "907" and first["prediction"] is None
    assert first["runner_up"] is None and len(first["digits"]) == 3
    assert set(first["digits"][0]) == {"prediction", "confidence", "runner_up", "box"}
    assert second["error"] == "no digit found" and second["text"] is None
    assert third["error"] and third["digits"] is None
