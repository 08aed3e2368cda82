"""The capture front-end, step by step, on synthetic pages: what each step removes or finds."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.capture import (
    digit_components,
    find_digit,
    ink_against_paper,
    printed_lines,
    read_digit,
    refuse_non_digit,
)
from core.data import load_split
from core.imaging import ImageError, ImageLimits, decode_page, to_mnist
from eval.make import Capture, capture, chosen
from tests.pages import (
    BALLPOINT,
    PAPER,
    RULE_SPACING,
    photographed,
    ruled_page,
)
from tests.support import encode, overlap

LIMITS = ImageLimits(max_bytes=16 * 2**20, max_pixels=40_000_000)
NO_DIGIT, SEVERAL = "no digit found", "several digits found: read it as a number"


def seven(page: Image.Image, left: int = 180, top: int = 100, stroke: int = 6) -> tuple:
    """A 7 whose bar lies on a ruled line; its box (x, y, width, height)."""
    draw = ImageDraw.Draw(page)
    draw.line([(left, top), (left + 50, top)], fill=BALLPOINT, width=stroke)
    draw.line([(left + 50, top), (left + 20, top + 80)], fill=BALLPOINT, width=stroke)
    return left - 3, top - 3, 56, 86


def one(page: Image.Image, x: int = 200, top: int = 90, stroke: int = 6) -> tuple:
    ImageDraw.Draw(page).line([(x, top), (x, top + 80)], fill=BALLPOINT, width=stroke)
    return x - 3, top, stroke, 81


def pixels(page: Image.Image) -> np.ndarray:
    return np.asarray(page, dtype=np.uint8)


# --- illumination ---------------------------------------------------------------------------

def test_a_shadow_across_the_page_is_flattened():
    truth = seven(Image.new("RGB", (400, 300)), 180, 100)
    drawn = ruled_page(margin=False)
    seven(drawn, 180, 100)
    page = pixels(drawn).astype(np.float32)
    xx = np.arange(400, dtype=np.float32)[None, :, None]
    page *= 1 - 0.55 / (1 + np.exp(-(xx - 200) / 8))  # the right half in shadow
    ink = ink_against_paper(np.clip(page, 0, 255).astype(np.uint8))
    blank = ink[200:290, 20:380]  # paper and ruled lines only, both sides of the shadow
    rows_between_lines = blank[[r for r in range(90) if (r + 200 - 12) % RULE_SPACING > 3]]
    assert np.percentile(rows_between_lines, 99) < 0.06
    x, y = truth[:2]
    assert ink[y + 3, x + 10 : x + 40].min() > 0.5  # the 7's bar, half in the shadow


def test_ink_of_any_colour_on_light_or_dark_ground():
    for ground, colour in [((245, 245, 240), (200, 30, 30)), ((245, 245, 240), (30, 30, 200)),
                           ((30, 50, 40), (235, 235, 235))]:  # red, blue ink; chalk
        page = Image.new("RGB", (300, 300), ground)
        ImageDraw.Draw(page).line([(150, 60), (150, 240)], fill=colour, width=8)
        ink = ink_against_paper(pixels(page))
        assert ink[150, 148:152].min() > 0.5 and ink[:, :100].max() < 0.05


# --- printed lines --------------------------------------------------------------------------

def test_ruled_and_margin_lines_are_removed_but_a_7s_bar_and_a_1_survive():
    for draw_digit in (seven, one):
        page = ruled_page()
        truth = draw_digit(page)
        digit = find_digit(pixels(page))
        assert overlap(digit.box, truth) > 0.7, (draw_digit.__name__, digit.box, truth)


def test_printed_lines_mask_covers_lines_not_strokes():
    page = ruled_page()
    seven(page)
    grey = pixels(page).min(axis=2)
    mask = grey < 215
    lines = printed_lines(mask)
    assert lines[12 + RULE_SPACING * 5, 300:390].all()  # a ruled line away from the digit
    assert lines[150:250, 50].all()  # the margin
    assert not lines[100, 185:225].any()  # the 7's bar, lying on a ruled line (y=108 +- 3)


@pytest.mark.parametrize("angle", [0, 4, -7])
def test_a_strip_is_measured_against_its_longer_side_without_padding_it_to_a_square(angle):
    # A number's strip: ruled lines, a margin, and a 1 as tall as the strip (not a line).
    page = ruled_page(420, 150).rotate(angle, Image.Resampling.BILINEAR, fillcolor=PAPER)
    one(page, 300, 5, 6)
    seven(page, 120, 40)
    mask = pixels(page).min(axis=2) < 215
    h, w = mask.shape
    square = printed_lines(np.pad(mask, ((0, w - h), (0, 0))))[:h]
    margin = 2 * max(3, round(0.03 * w)) + 16  # what core.numbers gives it
    strip = printed_lines(np.pad(mask, ((0, margin), (0, 0))), side=w)[:h]
    assert square.any()
    assert (strip == square).all()


def test_a_page_without_long_runs_has_no_lines():
    page = Image.new("RGB", (400, 200), PAPER)
    for left in (40, 140, 240):
        seven(page, left, 60)
    mask = pixels(page).min(axis=2) < 215
    assert not printed_lines(mask).any()


@pytest.mark.parametrize("index", [0, 1])  # a 7 and a 2 (MNIST test images)
def test_a_handwritten_digit_alone_has_no_printed_lines(data_dir, index):
    images, _ = load_split(data_dir, "test", limit=5)
    big = np.pad(np.asarray(Image.fromarray(images[index]).resize(
        (300, 300), Image.Resampling.BICUBIC)), 60)
    # its strokes make long runs in the line finder's bands: only short bits are left
    mask = big > 30
    assert not printed_lines(mask).any()


def test_a_bold_1_across_most_of_a_small_page_is_no_line_not_even_its_edges(data_dir):
    # Its run crosses the page, and the pixels along its edges are thin (no square of a
    # line's thickness fits them): they were taken out as a printed line, thinning it.
    images, labels = load_split(data_dir, "test", limit=15)
    assert labels[14] == 1
    big = np.pad(np.asarray(Image.fromarray(images[14]).resize(
        (112, 112), Image.Resampling.BICUBIC)), 24)
    assert not printed_lines(big > 30).any()


def test_a_page_turned_by_ten_degrees_still_loses_its_lines():
    page = ruled_page(600, 500)
    truth = seven(page, 280, 200)
    turned = page.rotate(10, Image.Resampling.BILINEAR, fillcolor=PAPER)
    digit = find_digit(pixels(turned))
    cx, cy = truth[0] + truth[2] / 2, truth[1] + truth[3] / 2
    x, y, w, h = digit.box
    assert abs(x + w / 2 - cx) < 25 and abs(y + h / 2 - cy) < 25
    assert w < 110 and h < 130  # the digit alone, not the lines


def test_digit_in_a_printed_box_on_a_form():
    form = Image.new("RGB", (300, 260), (250, 250, 250))
    draw = ImageDraw.Draw(form)
    draw.rectangle([40, 30, 260, 230], outline=(20, 20, 20), width=3)
    draw.line([(0, 245), (300, 245)], fill=(20, 20, 20), width=2)
    truth = one(form, 150, 80, 8)
    digit = find_digit(pixels(form))
    assert overlap(digit.box, truth) > 0.7


def test_a_fine_pens_1_close_to_a_box_wall_is_still_a_digit():
    """A 1 as thin as a rule, a few pixels inside a printed box's wall: no dash of it."""
    form = Image.new("RGB", (300, 260), (250, 250, 250))
    ImageDraw.Draw(form).rectangle([40, 30, 260, 230], outline=(20, 20, 20), width=3)
    one(form, 52, 80, 2)
    x, _, width, height = find_digit(pixels(form)).box
    assert abs(x + width / 2 - 52) <= 2 and height >= 78


def test_the_sides_of_a_box_half_the_page_wide_are_its_walls_not_a_1():
    # Its top and bottom cross half the page (lines that span it); its sides are shorter
    # than half the page's height and meet those lines only where they end.
    form = Image.new("RGB", (300, 400), (250, 250, 250))
    ImageDraw.Draw(form).rectangle([60, 40, 240, 220], outline=(20, 20, 20), width=5)
    truth = seven(form, 110, 80, 3)
    digit = find_digit(pixels(form))
    assert overlap(digit.box, truth) > 0.7


def test_a_fine_pens_7_filling_a_small_page_keeps_its_bar():
    # Its thin bar crosses half the page, alone, and meets a bold stem: neither a ruled
    # line (those cross the page, and repeat) nor a box's corner (whose walls are thin).
    page = Image.new("L", (160, 160), 255)
    draw = ImageDraw.Draw(page)
    draw.line([(35, 30), (120, 30)], fill=20, width=2)
    draw.line([(118, 30), (70, 135)], fill=20, width=12)
    digit = find_digit(pixels(page))
    assert overlap(digit.box, (34, 24, 92, 117)) > 0.85


# --- components -----------------------------------------------------------------------------

def test_specks_and_marks_at_the_border_are_dropped():
    page = Image.new("RGB", (400, 400), (240, 240, 240))
    truth = seven(page, 170, 150)
    draw = ImageDraw.Draw(page)
    rng = np.random.default_rng(0)
    for x, y in rng.integers(0, 400, (40, 2)):
        draw.ellipse([x, y, x + 2, y + 2], fill=(60, 60, 60))
    draw.rectangle([0, 300, 30, 380], fill=(40, 40, 40))  # a finger at the edge
    assert overlap(find_digit(pixels(page)).box, truth) > 0.8


def test_a_5_with_a_detached_top_bar_is_one_digit():
    page = Image.new("L", (300, 300), 245)
    draw = ImageDraw.Draw(page)
    draw.line([(130, 80), (190, 80)], fill=30, width=7)  # the bar, not touching
    draw.line([(128, 92), (122, 140)], fill=30, width=7)
    draw.arc([110, 120, 190, 210], start=-100, end=150, fill=30, width=7)
    digit = find_digit(pixels(page))
    _, y, _, h = digit.box
    assert y <= 78 and y + h >= 205


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("page", [
    pytest.param(lambda: Image.new("RGB", (640, 480), PAPER), id="blank paper"),
    pytest.param(lambda: ruled_page(640, 480), id="only ruled lines"),
    pytest.param(lambda: _empty_box(), id="only an empty box"),
])
def test_a_photo_without_a_digit_is_no_digit_found(page):
    noisy = pixels(page()).astype(np.float32)
    noisy += np.random.default_rng(1).normal(0, 4, noisy.shape)
    data = encode(np.clip(noisy, 0, 255).astype(np.uint8), "JPEG", quality=85)
    with pytest.raises(ImageError, match=f"^{NO_DIGIT}$"):
        to_mnist(data, LIMITS)


@pytest.mark.parametrize(("size", "turned"), [
    pytest.param((640, 480), 0.0, id="square to the camera"),
    pytest.param((900, 700), 2.0, id="turned 2 degrees"),
    pytest.param((900, 700), 3.0, id="turned 3 degrees"),
])
def test_a_photo_of_a_ruled_page_with_nothing_written_is_no_digit_found(size, turned):
    """A notebook's red margin is printed darker than its blue rules: a line still, not a
    stroke lying along one (each way's lines are measured against their own ink)."""
    with pytest.raises(ImageError, match=f"^{NO_DIGIT}$"):
        to_mnist(photographed(ruled_page(*size), turned), LIMITS)


def _empty_box() -> Image.Image:
    form = Image.new("RGB", (400, 300), (250, 250, 250))
    ImageDraw.Draw(form).rectangle([100, 60, 300, 240], outline=(30, 30, 30), width=3)
    return form


def _dash() -> Image.Image:
    """A box with a dash in it (the field left out on purpose)."""
    form = _empty_box()
    ImageDraw.Draw(form).line([(170, 150), (230, 150)], fill=BALLPOINT, width=6)
    return form


def _table_at_the_edge() -> Image.Image:
    """Blank paper photographed with a strip of the dark table along its left side."""
    page = Image.new("RGB", (480, 360), PAPER)
    ImageDraw.Draw(page).rectangle([0, 40, 14, 300], fill=(70, 60, 50))
    return page


def _small_empty_box() -> Image.Image:
    """A thumbnail of a form's empty box: too small for its walls to be found as lines."""
    form = Image.new("RGB", (120, 100), (245, 245, 245))
    ImageDraw.Draw(form).rectangle([30, 25, 90, 80], outline=(60, 60, 140), width=2)
    return form


@pytest.mark.parametrize("page", [
    pytest.param(_dash, id="a dash in a box"),
    pytest.param(_table_at_the_edge, id="the table along the edge"),
    pytest.param(_small_empty_box, id="a small empty box"),
])
def test_a_mark_shaped_like_no_digit_is_no_digit_found(page):
    """Without a digit on the page, what is left of printed structure or of the light is not
    read as one (the classifier would call each of these a 1, a 7 or a 0)."""
    with pytest.raises(ImageError, match=f"^{NO_DIGIT}$"):
        to_mnist(encode(page(), "PNG"), LIMITS)


def test_a_speck_at_the_ink_level_is_no_digit_but_a_small_scans_digit_is():
    """The box the digit is read from is its ink at the ink level: a 4 px speck of a faint
    band on a 400 px page is no digit; a digit 12 px tall on a 30 px scan is one."""
    with pytest.raises(ImageError, match=f"^{NO_DIGIT}$"):
        refuse_non_digit(np.ones((4, 4), dtype=bool), (200, 200, 4, 4), (400, 400))
    refuse_non_digit(np.ones((12, 8), dtype=bool), (10, 9, 8, 12), (30, 30))


def written(data_dir, kind: str, seed: int, n: int) -> Capture:
    """The `n`th capture of `python -m eval.make --kind KIND --seed SEED`, written with the
    MNIST test digit that set gives it."""
    images, _ = load_split(data_dir, "test")
    return capture(kind, seed, n, images[chosen(kind, seed, n + 1, len(images))[n]])


@pytest.mark.parametrize(("kind", "n"), [
    ("pencil", 8), ("pencil", 17), ("pencil", 27), ("pencil", 32), ("pencil", 38),
    ("notebook", 7), ("pencil", 1), ("pencil", 4), ("pencil", 9), ("pencil", 15),
    ("notebook", 18)])
def test_a_blank_page_whose_lines_cross_in_specks_is_no_digit(kind, n):
    """Squared paper photographed in pencil light, nothing written on it (`python -m
    eval.make --blank --seed 999`): where two faint grid lines cross, their ink adds up to
    the ink level, and a few such crossings taken together were read as a digit (a 1, a 2,
    a 4, an 8; a ruled page's dots along a line, a 1). Specks are no digit's pieces, nor
    are small pieces scattered over a digit's size (pencil 1, 4, 9, 15; notebook 18: up to
    15 crossings, each a little longer than a speck, two of them run together)."""
    page = capture(kind, 999, n, np.zeros((28, 28), dtype=np.uint8))
    with pytest.raises(ImageError, match=f"^{NO_DIGIT}$"):
        to_mnist(page.data, LIMITS)


@pytest.mark.parametrize(("kind", "seed", "n"), [("notebook", 3, 86), ("pencil", 3, 50),
                                                ("pencil", 11, 51)])
def test_a_small_digit_parted_by_printed_lines_is_still_found(data_dir, kind, seed, n):
    """A digit a few percent of the page tall, which the ruled or the grid lines cut into
    pieces (`eval.make` captures: a 5 and a 2), is found: its pieces are longer than
    specks. So is a faint pencil 1 in short pieces (seed 11): the longest is a dash along
    its stroke, no grid's dot."""
    page = written(data_dir, kind, seed, n)
    to_mnist(page.data, LIMITS)


@pytest.mark.parametrize("n", [6, 8, 13, 15, 19])
def test_a_blank_page_in_shadow_is_no_digit_along_its_edge(n):
    """A photo of a blank page in shadow, turned, the table beyond its edges (`python -m
    eval.make --blank --seed 999`): the paper, estimated on a coarse copy, is taken too
    bright beside the page's edge, and the band of false ink along it was read as a 1 (a
    7 where it lies along the foot) at up to 0.998."""
    page = capture("shadow", 999, n, np.zeros((28, 28), dtype=np.uint8))
    with pytest.raises(ImageError, match=f"^{NO_DIGIT}$"):
        to_mnist(page.data, LIMITS)


@pytest.mark.parametrize("n", [7, 11, 22, 34, 37])
def test_a_blank_page_in_shadow_is_no_digit_in_its_shading(n):
    """A photo of a blank page in shadow (`python -m eval.make --blank --seed 999`): where
    the shadow is darker than the paper estimate follows, a blob or a band of it in the
    middle of the page stood above the ink level and was read as a 2, a 6 or a 7 at up to
    0.96. Its edges are as soft as the light; a stroke's are sharp."""
    page = capture("shadow", 999, n, np.zeros((28, 28), dtype=np.uint8))
    with pytest.raises(ImageError, match=f"^{NO_DIGIT}$"):
        to_mnist(page.data, LIMITS)


def test_a_marker_digit_blurred_by_the_lens_is_still_a_digit(data_dir):
    """A 2 in grey marker filling a whiteboard photo (`eval.make`, seed 3): the foot of its
    edges, blurred by the lens, is as shallow over 2 px as shading's, but it steepens
    within a few pixels."""
    page = written(data_dir, "whiteboard", 3, 3)
    assert to_mnist(page.data, LIMITS) is not None


def test_a_coloured_marker_digit_blurred_and_pale_is_still_a_digit(data_dir):
    """A red marker's 6 under a whiteboard's glare (`eval.make`, seed 23), so blurred and
    pale that its edge is as soft as shading's even over 4 px: it has a colour of its own,
    and shading darkens every colour alike."""
    page = written(data_dir, "whiteboard", 23, 65)
    assert to_mnist(page.data, LIMITS) is not None


def test_a_1_near_the_frame_on_even_paper_is_still_a_digit():
    """A 1 a few pixels in from the frame, the same paper on both sides of it: no edge."""
    page = Image.new("L", (300, 400), 235)
    ImageDraw.Draw(page).line([(288, 120), (284, 300)], fill=40, width=7)
    assert find_digit(pixels(page)).box[3] >= 170


def test_a_wide_digit_across_a_lit_whiteboard_is_still_a_digit(data_dir):
    """A 2 written across most of a whiteboard whose glare lights one side (`eval.make`,
    seed 7): the page is brighter beyond its far end than beyond its near one, which is
    the light, not a page's edge."""
    page = written(data_dir, "whiteboard", 7, 2)
    to_mnist(page.data, LIMITS)


@pytest.mark.parametrize("n", [2, 19, 22, 23])
def test_an_empty_form_box_is_no_digit_by_what_is_left_of_its_wall(n):
    """A scanned form's empty box (`python -m eval.make --blank --seed 999`): the line
    finder takes its walls but leaves a sliver of one beside it, 1-2 px wide, read as a 1
    (or a 2, a 5). A digit found that is nothing but dashes along the printed lines is no
    digit."""
    page = capture("form", 999, n, np.zeros((28, 28), dtype=np.uint8))
    with pytest.raises(ImageError, match=f"^{NO_DIGIT}$"):
        to_mnist(page.data, LIMITS)


def test_a_1_cropped_tight_is_still_a_digit():
    """A 1 touching the frame at its top, its foot and its side crosses the frame: it is
    the digit, not a page's edge lying along it."""
    page = Image.new("L", (70, 130), 245)
    ImageDraw.Draw(page).line([(4, 0), (12, 130)], fill=30, width=8)
    digit = find_digit(pixels(page))
    assert digit.box[3] >= 120


def test_several_digits_are_refused_in_digit_mode():
    page = ruled_page(500, 300)
    seven(page, 120, 100)
    one(page, 300, 95)
    with pytest.raises(ImageError, match=f"^{SEVERAL}$"):
        to_mnist(encode(page, "JPEG", quality=90), LIMITS)


def test_a_small_mark_beside_the_digit_is_not_a_second_digit():
    page = ruled_page()
    truth = seven(page)
    ImageDraw.Draw(page).ellipse([300, 170, 306, 176], fill=BALLPOINT)  # a full stop
    assert overlap(find_digit(pixels(page)).box, truth) > 0.8


# --- boxes in the uploaded image's coordinates ---------------------------------------------

def test_box_is_in_original_pixels_for_a_large_jpeg_decoded_at_reduced_scale():
    page = ruled_page(3000, 2000)
    draw = ImageDraw.Draw(page)
    draw.line([(1500, 700), (1500, 1300)], fill=BALLPOINT, width=40)
    data = encode(page, "JPEG", quality=90)
    grey, scale = decode_page(data, LIMITS)
    assert max(grey.shape) < 1024 and scale > 2
    _, box = read_digit(grey, scale)
    assert overlap(box, (1480, 700, 40, 600)) > 0.7


# --- what real captures added (issue 12, second pass) --------------------------------------

def _lit(page: Image.Image, corner: float = 0.0, glare: tuple = ()) -> np.ndarray:
    """The page under uneven light: its corners darkened by `corner` (a vignette falling
    off to the frame), and a glare (x, y, radius) brightening it towards white."""
    values = pixels(page).astype(np.float32)
    h, w = values.shape[:2]
    yy, xx = np.ogrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
    values *= (1 - corner * (xx**2 + yy**2) / 2)[..., None]
    if glare:
        gx, gy, radius = glare
        yy, xx = np.ogrid[0:h, 0:w]
        spot = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2.0 * radius**2))
        values += (255 - values) * (0.85 * spot)[..., None]
    return np.clip(values, 0, 255).astype(np.uint8)


def test_a_vignette_darkening_the_corners_is_paper_not_ink():
    page = ruled_page(600, 450, margin=False)
    truth = seven(page, 420, 120)
    digit = find_digit(_lit(page, corner=0.9))
    assert overlap(digit.box, truth) > 0.7, digit.box


def test_faint_pencil_on_a_dense_grid_is_found():
    page = Image.new("RGB", (240, 260), (246, 246, 243))
    draw = ImageDraw.Draw(page)
    for v in range(0, 260, 7):  # a grid line every 7 px: more grid than paper
        draw.line([(0, v), (240, v)], fill=(175, 190, 215), width=2)
        draw.line([(v, 0), (v, 260)], fill=(175, 190, 215), width=2)
    truth = seven(page, 95, 80)
    pencil = pixels(page).astype(np.float32)
    stroke = pixels(_seven_mask(page.size, 95, 80)) > 0
    pencil[stroke] = 150.0  # pencil grey, barely darker than the grid
    digit = find_digit(pencil.astype(np.uint8))
    assert overlap(digit.box, truth) > 0.6, digit.box


def _seven_mask(size: tuple, left: int, top: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    seven_lines = ImageDraw.Draw(mask)
    seven_lines.line([(left, top), (left + 50, top)], fill=255, width=6)
    seven_lines.line([(left + 50, top), (left + 20, top + 80)], fill=255, width=6)
    return mask


def test_a_pale_red_marker_under_a_glare_is_dark_ink():
    board = Image.new("RGB", (500, 400), (228, 230, 226))
    draw = ImageDraw.Draw(board)
    pale_red = (235, 150, 150)  # lighter than the board in the red channel
    draw.line([(170, 110), (270, 110)], fill=pale_red, width=14)
    draw.line([(270, 110), (215, 290)], fill=pale_red, width=14)
    digit = find_digit(_lit(board, glare=(390, 290, 120)))
    assert overlap(digit.box, (163, 103, 114, 194)) > 0.7, digit.box


def test_a_bold_digit_filling_a_small_grey_scan_is_dark_on_light():
    scan = Image.new("L", (54, 70), 205)
    ImageDraw.Draw(scan).ellipse([8, 8, 46, 62], outline=90, width=11)  # a bold 0
    digit = find_digit(pixels(scan))
    assert overlap(digit.box, (8, 8, 39, 55)) > 0.8, digit.box


def test_a_leftover_piece_of_printed_line_is_not_joined_to_the_digit():
    mask = np.zeros((200, 190), dtype=bool)
    mask[45:126, 92:98] = True  # a 1
    mask[25:35, 60:100] = True  # a 7's detached bar would be joined...
    mask[133:136, 30:161] = True  # ...what the line finder left of a doubled box border not
    kept = digit_components(mask, mask.astype(np.float32), 0.5)
    assert kept[45:126, 92:98].all() and kept[25:35, 60:100].all()
    assert not kept[140:143].any()


def test_a_thin_pens_0_drawn_in_three_pieces_is_one_digit_not_several():
    # Its long left arc is as thin as what the line finder leaves of a printed line and
    # longer than the bolder bottom piece, the digit's main one; it joins once the right
    # arc has (a clean page's 0 written with a fine pen was "several digits").
    yy, xx = np.mgrid[:160, :160]
    angle = np.degrees(np.arctan2((yy - 80) / 55, (xx - 80) / 30)) % 360
    off = np.abs(np.hypot((yy - 80) / 55, (xx - 80) / 30) - 1)
    bottom = (off < 0.1) & (angle > 25) & (angle < 155)
    left = (off < 0.04) & (angle > 170) & (angle < 290)
    right = (off < 0.04) & ((angle > 325) | (angle < 10))
    mask = bottom | left | right
    kept = digit_components(mask, mask * np.float32(0.8), 0.3)
    assert kept[mask].all()


def test_a_fine_pens_6_keeps_its_long_back_on_a_page_without_printed_lines():
    # Its back, a thin stroke apart from the bolder loop and longer than it, is shaped like
    # what the line finder leaves of a printed line; where the finder found no line it is
    # the digit's own stroke (it was dropped, and the 6 read from its loop alone).
    yy, xx = np.mgrid[:160, :160]
    loop = np.abs(np.hypot((yy - 110) / 30, (xx - 95) / 33) - 1) < 0.1
    back = (np.abs(xx - (50 - 0.1 * (yy - 20))) < 1.5) & (yy >= 20) & (yy < 128)
    mask = loop | back
    ink = mask * np.float32(0.8)
    kept = digit_components(mask, ink, 0.3, np.zeros_like(mask))
    assert kept[mask].all()


def test_a_pencil_stroke_cut_into_pieces_by_a_grid_is_read_whole_not_from_its_darkest():
    # A faint 1 on squared paper: the grid lines taken out of it leave 4-px gaps, wider than
    # the join gap of its darkest piece alone (pressed hard), not of the whole stroke.
    mask = np.zeros((200, 200), dtype=bool)
    mask[50:150, 99:102] = True
    mask[np.arange(200) % 14 < 4] = False
    ink = mask * np.float32(0.3)
    ink[90:98] *= 2
    kept = digit_components(mask, ink, 0.1)
    assert kept[mask].all()


def test_what_is_left_of_a_line_along_it_is_neither_the_digit_nor_joined_to_it():
    mask = np.zeros((200, 190), dtype=bool)
    mask[60:120, 92:97] = True  # a 1 ...
    lines = np.zeros_like(mask)
    lines[20:180, 140:143] = True  # ... beside a box's wall found by the line finder,
    mask[30:170, 143:145] = True  # whose dark core it left, longer and darker than the 1
    ink = mask * np.float32(0.5)
    ink[30:170, 143:145] = 0.9
    kept = digit_components(mask, ink, 0.3, lines)
    assert kept[60:120, 92:97].all() and not kept[:, 143:145].any()


def test_short_pieces_of_a_doubled_line_beside_the_digit_are_not_joined_to_it():
    # A box's top wall under a ruled line: the line finder found the line and left the
    # wall beside it in short dashes, each shorter than a quarter of the page but lying
    # along the line found, within the join gap of the 0 under them.
    yy, xx = np.mgrid[:286, :400]
    ring = np.abs(np.hypot((yy - 110) / 50, (xx - 200) / 40) - 1) < 0.08
    lines = np.zeros_like(ring)
    lines[30:33] = True
    dashes = np.zeros_like(ring)
    dashes[33:36] = (xx[0] % 50) < 40
    mask = ring | dashes
    kept = digit_components(mask, mask * np.float32(0.8), 0.3, lines)
    assert kept[ring].all() and not kept[dashes].any()


def test_a_digit_the_frame_cuts_is_read_not_the_specks_inside_the_frame():
    # A tight crop: the 0 runs off the page's left edge, and all that is inside the frame
    # is two specks (what the line finder left of a box's corner). It was refused as
    # "several digits", the specks taken for the digit and the 0 for a second one.
    yy, xx = np.mgrid[:250, :220]
    ring = np.abs(np.hypot((yy - 120) / 50, (xx - 60) / 75) - 1) < 0.12
    specks = np.zeros_like(ring)
    specks[185:195, 150:160] = specks[185:195, 180:190] = True
    mask = ring | specks
    kept = digit_components(mask, mask * np.float32(0.8), 0.3, np.zeros_like(mask))
    assert kept[ring].all() and not kept[specks].any()


def test_the_faint_pieces_of_a_pencil_digit_pressed_hard_at_one_spot_stay_with_it():
    # A pencil 3 whose middle stroke fell below the ink level: its top arc, pressed hard at
    # one spot, and its fainter bottom arc, a quarter of the digit's height below it.
    ink = np.zeros((300, 300), dtype=np.float32)
    ink[100:140, 120:180] = 0.2  # the top arc (its box: 40 x 60)...
    ink[110:114, 170:174] = 0.9  # ...pressed hard here
    ink[152:200, 120:180] = 0.15  # the bottom arc, 12 px below it
    kept = digit_components(ink > 0.1, ink, 0.12)
    assert kept[100:140, 120:180].all() and kept[152:200, 120:180].all()


# --- issue 12, third pass: shading bands, small scans ---------------------------------------

def _a_flagged_one(shape: tuple, bold: bool = False) -> np.ndarray:
    """A 1 with its flag in ink 0.8: a 5-px pen, or a 10-px one with a longer flag."""
    ink = np.zeros(shape, dtype=np.float32)
    right, flag_bottom, flag_left = (210, 68, 170) if bold else (205, 65, 175)
    ink[60:150, 200:right] = 0.8  # a 1...
    ink[60:flag_bottom, flag_left:right] = 0.8  # ...with its flag
    return ink


def test_a_wide_band_of_shaded_paper_is_not_the_digit():
    # On a turned photo, shadowed paper between the page's edge and a brighter surround is
    # narrower than the paper window: it comes out as a wide band barely above the ink level,
    # with more ink in all than the digit's thin strokes.
    ink = _a_flagged_one((300, 400))
    ink[200:260, 60:340] = 0.2
    kept = digit_components(ink > 0.1, ink, 0.18)
    assert kept[60:150, 200:205].all() and not kept[200:260].any()


def test_a_digit_written_across_a_shadow_reaching_the_frame_is_read_without_it():
    # The shadow's band (faint, wide, down to the frame) and the 1's foot inside it make
    # one component: the only one, and it touches the frame.
    ink = _a_flagged_one((300, 400))
    ink[120:300, :][ink[120:300, :] == 0] = 0.3
    kept = digit_components(ink > 0.1, ink, 0.18)
    assert kept[60:150, 200:205].all() and not kept[200:].any()
    assert not kept[130:150, :190].any()


def test_shading_just_under_the_digit_is_not_joined_to_it():
    ink = _a_flagged_one((300, 400))
    ink[158:190, 150:260] = 0.2  # within the join gap, but not written with the digit's pen
    kept = digit_components(ink > 0.1, ink, 0.18)
    assert kept[60:150, 200:205].all() and not kept[158:190].any()


def test_a_digit_two_pixels_from_the_frame_of_a_small_scan_is_read_whole():
    scan = Image.new("L", (58, 38), 215)
    draw = ImageDraw.Draw(scan)
    draw.arc([22, 14, 40, 34], 200, 160, fill=90, width=3)  # a 5's body near the bottom
    draw.line([(30, 8), (46, 8)], fill=90, width=3)  # and its detached bar
    digit = find_digit(pixels(scan))
    assert overlap(digit.box, (22, 6, 26, 30)) > 0.8, digit.box


def _faint_loop_9(size: tuple, loop: list, stem: list, line_at: int | None = None) -> np.ndarray:
    """A thin pen's 9 on a grey scan: the left half of its `loop` (an ellipse's box) absorbs
    5% of the light, under the ink level, the right half and the `stem` are firm; a printed
    line across the page at row `line_at`, if given."""
    scan = Image.new("L", size, 200)
    draw = ImageDraw.Draw(scan)
    if line_at is not None:
        draw.line([(0, line_at), (size[0], line_at)], fill=170, width=1)
    draw.ellipse(loop, outline=190, width=3)  # the loop's left half, faint...
    draw.arc(loop, 270, 90, fill=110, width=3)  # ...its right half firm
    draw.line(stem, fill=110, width=3)
    noise = np.random.default_rng(0).normal(0, 1.0, (size[1], size[0]))
    return np.clip(np.asarray(scan, dtype=np.float32) + noise, 0, 255).astype(np.uint8)


def test_a_faint_half_loop_on_a_small_grey_scan_is_traced_from_the_digit():
    # A thin pen on a small grey scan: half the 9's loop is under the ink level; it is
    # traced from the firm strokes it continues (hysteresis).
    digit = find_digit(_faint_loop_9((50, 64), [12, 8, 36, 32], [(35, 20), (33, 56)]))
    assert overlap(digit.box, (12, 8, 26, 50)) > 0.8, digit.box


def test_a_thin_pens_loop_two_thirds_faint_on_a_small_scan_is_traced_whole():
    # A 0 on a small grey scan, its loop under the ink level but for a third of it: the
    # faint ink traced from that third is twice the firm ink, and it is the digit's.
    scan = Image.new("L", (40, 48), 200)
    draw = ImageDraw.Draw(scan)
    draw.ellipse([10, 8, 30, 40], outline=188, width=2)  # the loop, faint...
    draw.arc([10, 8, 30, 40], 90, 210, fill=110, width=2)  # ...but for a third of it
    noise = np.random.default_rng(0).normal(0, 1.0, (48, 40))
    page = np.clip(np.asarray(scan, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    digit = find_digit(page)
    assert overlap(digit.box, (10, 8, 21, 33)) > 0.7, digit.box


def test_a_faint_loop_is_traced_on_a_scan_with_a_printed_line_but_not_along_the_line():
    # A scan of 112 px is still small enough for the digit's faint strokes to be traced
    # (the faint half-loop's 9, larger); a printed line crossing its loop is no stroke of
    # it: traced along the line, the digit would span the page.
    page = _faint_loop_9((112, 124), [36, 20, 72, 56], [(71, 38), (68, 96)], line_at=30)
    digit = find_digit(page)
    assert overlap(digit.box, (36, 20, 38, 78)) > 0.8, digit.box


def _slashed_zero(size: tuple, left: int, top: int, grid: bool) -> np.ndarray:
    """A pencil 0 with a slash, 37 px tall, written with a 2-px pen, on squared paper or not."""
    page = Image.new("RGB", size, PAPER)
    draw = ImageDraw.Draw(page)
    for v in range(0, max(size), 40) if grid else ():
        draw.line([(0, v), (size[0], v)], fill=(175, 190, 215), width=2)
        draw.line([(v, 0), (v, size[1])], fill=(175, 190, 215), width=2)
    draw.ellipse([left, top, left + 22, top + 36], outline=(120, 120, 120), width=2)
    draw.line([(left + 4, top + 30), (left + 18, top + 6)], fill=(120, 120, 120), width=2)
    return pixels(page)


def test_a_small_digit_on_a_large_page_is_read_at_the_pages_own_resolution():
    # On a 1,000-px page analysed at 400 px, a fine pen's strokes are under a pixel wide: the
    # digit found there is found again on a window around it at full resolution, and reads
    # like the same digit written alone.
    alone, _ = read_digit(_slashed_zero((200, 200), 80, 80, grid=False))
    digit, box = read_digit(_slashed_zero((1000, 800), 505, 405, grid=True))
    assert overlap(box, (505, 405, 23, 37)) > 0.8, box
    similarity = np.corrcoef(alone.ravel().astype(float), digit.ravel().astype(float))[0, 1]
    assert similarity > 0.6, similarity


def _in_shadow_but_a_lit_disc(page: Image.Image, centre: tuple, radius: float, soft: float,
                              depth: float) -> np.ndarray:
    """The page's pixels darkened by `depth` (0-1) but for a lit disc with a soft edge."""
    values = pixels(page).astype(np.float32)
    yy, xx = np.ogrid[0:page.height, 0:page.width]
    lit = 1 / (1 + np.exp((np.hypot(xx - centre[0], yy - centre[1]) - radius) / soft))
    values *= (1 - depth * (1 - lit))[..., None]
    return np.clip(values, 0, 255).astype(np.uint8)


def test_a_patch_of_light_on_a_page_in_shadow_is_not_light_ink():
    # Most of the page in shadow (its ground at 46% of full scale), one patch lit: the patch
    # departs upwards more than the thin strokes downwards, but light marks need a dark ground.
    page = Image.new("RGB", (400, 300), PAPER)
    truth = seven(page, 150, 100, stroke=3)
    digit = find_digit(_in_shadow_but_a_lit_disc(page, (330, 230), 50, 6, 0.5))
    assert overlap(digit.box, truth) > 0.7, digit.box


def test_a_lit_patch_on_a_page_in_deep_shadow_is_not_light_ink():
    # Most of the page in deep shadow (its ground under 40% of full scale, as a blackboard's)
    # and one wide patch lit: the patch departs upwards most, but it is wider than any mark.
    page = Image.new("RGB", (400, 300), PAPER)
    truth = seven(page, 90, 80, stroke=4)
    digit = find_digit(_in_shadow_but_a_lit_disc(page, (320, 200), 90, 8, 0.7))
    assert overlap(digit.box, truth) > 0.7, digit.box


# --- issue 12, fourth pass: shading is not ink -----------------------------------------------

def test_shading_against_a_page_edge_is_not_joined_to_the_digit():
    # Shadowed paper between the page's lower edge and a brighter surround: its ink rises
    # softly from the page's inside to more than half the digit's at the edge (row 199).
    ink = _a_flagged_one((300, 400), bold=True)
    ink[140:200, 215:315] = np.linspace(0.0, 0.45, 60, dtype=np.float32)[:, None]
    kept = digit_components(ink > 0.1, ink, 0.18)
    assert kept[60:150, 200:210].all() and not kept[150:].any()


def test_shading_beside_the_digit_is_no_second_digit():
    ink = _a_flagged_one((300, 400), bold=True)
    ink[55:155, 290:350] = np.linspace(0.0, 0.45, 60, dtype=np.float32)[None, :]
    kept = digit_components(ink > 0.1, ink, 0.18)
    assert kept[60:150, 200:210].all() and not kept[:, 290:].any()


def test_a_pale_stroke_with_a_sharp_edge_still_joins_the_digit():
    ink = _a_flagged_one((300, 400), bold=True)
    ink[40:48, 150:195] = 0.45  # a detached bar written with the same pen, lighter
    kept = digit_components(ink > 0.1, ink, 0.18)
    assert kept[40:48, 150:195].all()
