"""A sheet photographed lying on a desk is read as if the desk were not there; pages without
a desk, and light digits on a dark ground, are left as they are."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.capture import find_digit, paper_only
from core.data import load_split
from core.imaging import ImageError, ImageLimits, decode_page
from core.numbers import read_number
from eval import make as eval_make
from eval import numbers as eval_numbers
from eval.desk import desk_stream, on_desk
from tests.support import overlap

LIMITS = ImageLimits(max_bytes=2**24, max_pixels=2**24)


@pytest.fixture(scope="module")
def mnist(data_dir):
    return load_split(data_dir, "test")


@pytest.mark.parametrize("n", [0, 3, 6])
def test_a_number_on_a_sheet_lying_on_a_desk_is_read(mnist, small_model, n):
    """The desk covers most of the frame: it was taken for the dark ground of light marks and
    the page turned around."""
    images, labels = mnist
    data, _, chosen = eval_numbers.number("clean", 3, n, images)
    photo, _, _ = on_desk(data, desk_stream(3, "clean", n))
    text = "".join(str(labels[i]) for i in chosen)
    assert read_number(small_model, *decode_page(photo, LIMITS)).text == text


@pytest.mark.parametrize(("kind", "n"), [("pencil", 0), ("notebook", 3), ("whiteboard", 3)])
def test_a_digit_photographed_on_a_desk_is_found_in_its_box(mnist, kind, n):
    images, _ = mnist
    index = eval_make.chosen(kind, 3, n + 1, len(images))[n]
    page = eval_make.capture(kind, 3, n, images[index], 800)
    photo, scale, (left, top) = on_desk(page.data, desk_stream(3, kind, n))
    x, y, w, h = page.box
    truth = (left + x * scale, top + y * scale, w * scale, h * scale)
    assert overlap(find_digit(*decode_page(photo, LIMITS)).box, truth) >= 0.5


def test_the_desk_around_a_sheet_is_painted_in_the_papers_colour():
    desk = Image.new("RGB", (400, 300), (120, 90, 60))
    ImageDraw.Draw(desk).rectangle((80, 60, 330, 240), fill=(240, 238, 230))
    ImageDraw.Draw(desk).line([(150, 100), (150, 200)], fill=(20, 20, 30), width=6)  # a 1
    page = paper_only(np.asarray(desk))
    assert page[5, 5].tolist() == page[150, 100].tolist()  # desk and paper alike
    assert (page[150, 148:152] < 60).all()  # the writing is kept


@pytest.mark.parametrize("index", [410, 2060, 2185, 4869, 5960])  # 7, 0, 0, 1, 8
def test_a_light_digit_on_a_dark_ground_is_no_sheet(mnist, index):
    """An enlarged MNIST digit is a bright mark on black: a filled 0 or 8 is a rounded
    region, a 1 a bar, and a dark 7 touching the frame leaves no surface around a sheet
    (none of the 10,000 test digits, either way round, is taken for a sheet)."""
    images, _ = mnist
    big = np.asarray(Image.fromarray(images[index]).resize((280, 280), Image.Resampling.BILINEAR))
    for page in (big, 255 - big):
        assert paper_only(page) is page


@pytest.mark.parametrize("kind", ["notebook", "shadow", "whiteboard"])
def test_a_page_that_fills_the_photo_is_left_as_it_is(mnist, kind):
    images, _ = mnist
    page = eval_make.capture(kind, 3, 0, images[0], 800)
    pixels, _ = decode_page(page.data, LIMITS)
    assert paper_only(pixels) is pixels


def test_the_generators_desk_moves_each_box_with_its_page(tmp_path, data_dir):
    """`python -m eval.make --desk`: the labels' boxes are where the digits lie on the
    desk's photo."""
    rows = eval_make.make(tmp_path, "notebook", 3, seed=3, data_dir=data_dir, max_width=600,
                          desk=True)
    for row in rows:
        truth = (row["box_x"], row["box_y"], row["box_width"], row["box_height"])
        photo = (tmp_path / str(row["filename"])).read_bytes()
        assert overlap(find_digit(*decode_page(photo, LIMITS)).box, truth) >= 0.5


@pytest.mark.parametrize("shape", [(200, 300), (200, 300, 3)])
def test_a_page_of_one_colour_is_no_sheet_and_no_digit(shape):
    page = np.full(shape, 200, dtype=np.uint8)
    assert paper_only(page) is page
    with pytest.raises(ImageError, match="no digit found"):
        find_digit(page)
