"""Reading a number on one image (core/numbers.py): digits found left to right, broken
strokes kept together, specks dropped, touching digits split, bad pages refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from core import number_ink, number_marks, numbers
from core.capture import reduce_blocks
from core.cuts import dilated
from core.data import load_split
from core.imaging import ImageError, ImageLimits, decode_page
from core.numbers import MAX_CANDIDATES, read_number, segment
from core.pipeline import predict_files
from core.underline import underline
from eval import make as eval_make
from eval import numbers as eval_numbers
from tests.pages import photographed, ruled_page
from tests.support import encode

PAPER = 245.0
LIMITS = ImageLimits(max_bytes=2**24, max_pixels=2**24)


@pytest.fixture(scope="module")
def mnist_all(data_dir):
    """The whole MNIST test split, read once: the evaluation sets draw from all of it."""
    return load_split(data_dir, "test")


@pytest.fixture(scope="module")
def mnist_test(mnist_all):
    images, labels = mnist_all
    return images[:400], labels[:400]


def tight_page(images: np.ndarray, seed: int, n: int) -> tuple[np.ndarray, float]:
    """The decoded page of `eval.numbers`' `n`-th tight number of `seed`, and its scale."""
    data, _, _ = eval_numbers.number("tight", seed, n, images)
    return decode_page(data, ImageLimits(max_bytes=10**7, max_pixels=10**7))


def drawn_number(mnist_all, kind: str, seed: int, n: int) -> tuple[bytes, str]:
    """The file of `eval.numbers`' `n`-th number of `kind` and `seed`, and its true text."""
    images, labels = mnist_all
    data, _, chosen = eval_numbers.number(kind, seed, n, images)
    return data, "".join(str(labels[i]) for i in chosen)


def digits_of(images, labels, text: str) -> list[np.ndarray]:
    """One MNIST test image per character of `text`, the first of each label."""
    return [images[int(np.flatnonzero(labels == int(c))[0])] for c in text]


def scaled_ink(digit: np.ndarray, height: int) -> np.ndarray:
    """An MNIST digit's ink cropped and scaled to `height` px tall (uint8, light on black)."""
    rows, cols = np.flatnonzero(digit.max(1) > 30), np.flatnonzero(digit.max(0) > 30)
    crop = digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    width = max(1, round(crop.shape[1] * height / crop.shape[0]))
    return np.asarray(Image.fromarray(crop).resize((width, height), Image.Resampling.BILINEAR))


def write_row(digits: list[np.ndarray], height: int = 56, gap: float = 0.3,
              rises: list[float] | None = None, pad: int = 30,
              inks: list[float] | None = None) -> np.ndarray:
    """Dark ink on light paper: each digit's ink cropped, scaled to `height`, `gap` digit
    heights apart (negative: overlapping), its bottom raised by `rises[i]` px, written
    `inks[i]` as dark (1: as dark as written)."""
    pieces = [scaled_ink(digit, height) for digit in digits]
    rises = rises or [0.0] * len(digits)
    inks = inks or [1.0] * len(digits)
    total = sum(p.shape[1] for p in pieces) + int(gap * height * (len(pieces) - 1))
    span = int(max(abs(r) for r in rises))
    cover = np.zeros((height + 2 * pad + 2 * span, total + 2 * pad), np.float32)
    x = pad
    for piece, rise, ink in zip(pieces, rises, inks, strict=True):
        top = pad + span - int(rise)
        region = cover[top:top + height, x:x + piece.shape[1]]
        np.maximum(region, ink * piece / 255.0, out=region)
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


def test_a_bar_lifted_off_to_the_side_stays_with_its_digit(mnist_test, small_model):
    images, labels = mnist_test
    five = digits_of(images, labels, "5")[0]
    top = int(np.flatnonzero(five.max(axis=1) > 30)[0])
    lifted = five.copy()
    lifted[:top + 5] = 0
    # the pen lifted: the bar drawn apart, a little higher and to the right, as short as a
    # hyphen but at the top of the row
    lifted[:top + 3] = np.roll(five[:top + 4], 5, axis=1)[1:]
    page = write_row([*digits_of(images, labels, "3"), lifted, *digits_of(images, labels, "8")])
    assert read_number(small_model, page).text == "358"


def blocks(*boxes: tuple[int, int, int, int]) -> np.ndarray:
    """A page's ink mask holding the solid boxes `(top, left, bottom, right)`."""
    mask = np.zeros((100, 140), dtype=bool)
    for top, left, bottom, right in boxes:
        mask[top:bottom, left:right] = True
    return mask


def test_a_digits_base_broken_off_along_a_line_stays_with_its_digit():
    # Three digits 40 px tall, the middle one drawn as its top and the stroke down its left
    # side to the foot of the row. Its base, parted from it where a ruled line was taken
    # out, sticks out to its right (under half of it over the digit): a 2's, not a hyphen's,
    # which lies between the digits.
    mask = blocks((20, 10, 60, 30), (20, 50, 50, 70), (20, 50, 60, 56), (20, 100, 60, 120),
                  (55, 62, 59, 86))
    groups = number_marks.mark_groups(mask, mask.astype(np.float32))
    assert [(g.cols.start, g.cols.stop) for g in groups] == [(10, 30), (50, 86), (100, 120)]


def test_a_boxs_line_left_under_a_digit_does_not_join_it():
    # What the line finder left of a box's bottom line under the middle digit: a piece
    # mostly under it (one digit with it, as ever) and one sticking out to its left, below
    # the digit's own strokes, which a base would reach.
    mask = blocks((20, 10, 60, 30), (20, 50, 52, 70), (20, 100, 60, 120), (54, 58, 57, 72),
                  (54, 40, 57, 56))
    groups = number_marks.mark_groups(mask, mask.astype(np.float32))
    assert [(g.cols.start, g.cols.stop) for g in groups] == [(10, 30), (50, 72), (100, 120)]


def test_a_small_digits_bar_lifted_above_it_stays_with_it():
    # The middle digit is written smaller (two thirds of the others' height), its bar lifted
    # above it by a sixth of their height: a small 5 whose pen left the paper.
    mask = blocks((20, 10, 60, 30), (34, 50, 60, 70), (20, 100, 60, 120), (22, 62, 27, 88))
    groups = number_marks.mark_groups(mask, mask.astype(np.float32))
    assert [(g.rows.start, g.cols.stop) for g in groups] == [(20, 30), (22, 88), (20, 120)]


def test_specks_and_a_decimal_point_are_dropped(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "1234"), gap=0.5)
    height = 56
    columns = (page < 128).any(axis=0)
    centre = int(np.median(np.flatnonzero(~columns[30:-30]) + 30))  # in a gap between digits
    page[30 + height - 6:30 + height, centre - 3:centre + 3] = 20  # a point on the baseline
    page[5:7, 5:7] = 60  # dust
    assert read_number(small_model, page).text == "1234"


def test_a_hyphen_between_digits_is_dropped(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "1234"), gap=0.5)
    height = 56
    columns = (page < 128).any(axis=0)
    gaps = np.flatnonzero(~columns[30:-30]) + 30
    centre = int(np.median(gaps))  # in a gap between digits
    page[30 + height // 2 - 2:30 + height // 2 + 2, centre - 8:centre + 8] = 20
    assert read_number(small_model, page).text == "1234"


def digit_columns(page: np.ndarray, which: int) -> tuple[int, int]:
    """The columns `[left, right)` of a written row's `which`-th digit (left to right)."""
    columns = (page < PAPER - 5).any(axis=0)
    edges = np.flatnonzero(np.diff(columns.astype(int)))
    return edges[::2][which] + 1, edges[1::2][which] + 1


def pressed_lightly(page: np.ndarray, which: int, seed: int) -> np.ndarray:
    """The page with its `which`-th digit (left to right) written with a light, uneven hand:
    its ink 5-45% as dark as written, in patches (a seeded smooth random field), so that only
    a few specks of it are as dark as the page's other digits make ink."""
    left, right = digit_columns(page, which)
    field = ndimage.gaussian_filter(np.random.default_rng(seed).random(
        (page.shape[0], right - left)), 6)
    field = (field - field.min()) / (field.max() - field.min())
    out = page.astype(np.float32)
    out[:, left:right] = PAPER - (PAPER - out[:, left:right]) * (0.05 + 0.4 * field**2)
    return out.astype(np.uint8)


@pytest.mark.parametrize(("text", "which"), [("4725", 0), ("1941", 2)])
def test_a_digit_written_lightly_is_not_dropped(mnist_test, small_model, text, which):
    images, labels = mnist_test
    page = pressed_lightly(write_row(digits_of(images, labels, text)), which, seed=5)
    assert read_number(small_model, page).text == text


@pytest.mark.parametrize(("text", "which", "seed"), [("3874", 2, 58), ("2267", 3, 21),
                                                   ("0452", 1, 13)])
def test_a_light_digit_is_traced_whole_from_its_darkest_stroke(mnist_test, small_model,
                                                                text, which, seed):
    images, labels = mnist_test
    # Pressed lightly, but one stroke of the digit is as dark as the page's ink: a digit
    # sized mark on its own, which alone reads as another digit (a 7 for a 4, a 1 for a 7).
    page = pressed_lightly(write_row(digits_of(images, labels, text)), which, seed)
    assert read_number(small_model, page).text == text


def faded_on_top(page: np.ndarray, which: int, level: float) -> np.ndarray:
    """The page with the top 30% of its `which`-th digit (left to right) written with
    `level` of its ink: a pencil lifted as the stroke went up (a 7's or a 5's bar, a 9's
    loop). What is left at the page's ink level is as tall as a digit (not a fragment)."""
    left, right = digit_columns(page, which)
    rows = np.flatnonzero((page[:, left:right] < PAPER - 5).any(axis=1))
    top, middle = rows[0], rows[0] + round(0.3 * (rows[-1] - rows[0]))
    weight = np.ones(page.shape[0], np.float32)
    weight[top:middle] = level
    weight[middle - 6:middle] = np.linspace(level, 1.0, 6)  # the pencil pressed again
    out = page.astype(np.float32)
    out[:, left:right] = PAPER - (PAPER - out[:, left:right]) * weight[:, None]
    return out.astype(np.uint8)


@pytest.mark.parametrize("index", [0, 102])  # a 7 and a 5 of the MNIST test set
def test_a_digit_whose_strokes_fade_is_traced_whole(mnist_test, small_model, index):
    images, labels = mnist_test
    text = f"3{labels[index]}2"
    three, two = digits_of(images, labels, "32")
    row = write_row([three, images[index], two])
    # The top of the 7 and the 5 (their bars) written with a twelfth of the ink: at the
    # page's ink level the rest reads as a 1 and a 6 or a 3.
    page = faded_on_top(row, 1, level=0.08)
    assert read_number(small_model, page).text == text


@pytest.mark.parametrize(("kind", "seed", "n", "text"), [
    ("notebook", 3, 33, "991901"), ("drift", 3, 48, "3096484"), ("drift", 11, 157, "05169")])
def test_a_digit_lighter_than_its_neighbours_is_read_in_its_own_faint_ink(
        mnist_all, small_model, kind, seed, n, text):
    """Numbers of `eval.numbers` with a digit in a thinner, lighter pen than the rest: at
    the page's ink level it loses a stroke (a 9's loop open at a ruled line, a 0's or a 9's
    far side) and read "991801", "3276484", "05167". Its group traced into its own faint
    ink is a second candidate, and the cut search keeps the one read best."""
    data, _, _ = eval_numbers.number(kind, seed, n, mnist_all[0])
    assert read_number(small_model, *decode_page(data, LIMITS)).text == text


def test_touching_digits_are_split_by_recognition(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "4096"), gap=-0.05)
    number = read_number(small_model, page)
    assert number.text == "4096"


@pytest.mark.parametrize("level", [0.3, 0.4])
def test_a_light_digit_touching_a_bold_one_is_cut_where_they_meet(mnist_test, small_model,
                                                                  level):
    # Another pen, touching: the 3 of "83" written 0.3 or 0.4 as dark as the 8. The column
    # projection's minima lie inside the light 3, whose ink weighs little; the cut where
    # the dark columns end is offered too (before, "573" and "7").
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "83"), gap=-0.04, inks=[1.0, level])
    assert read_number(small_model, page).text == "83"


@pytest.mark.parametrize(("seed", "n"), [(3, 1), (3, 182), (11, 179), (11, 89), (11, 93)])
def test_a_one_touching_its_neighbour_is_offered_a_cut(mnist_all, seed, n):
    # Tight writing: a 1 touching its neighbour (the "21" of "218" and of "2186", a pair of
    # "89198"), the pair no wider than a wide digit, or even narrower than the row's
    # typical digit (the "18" of "1856721", the "61" of "612931", read whole as a 0 and a
    # 4); it is offered cuts like any wider group, and reading (with the whole-digit
    # verifier) chooses one digit or two.
    pixels, scale = tight_page(mnist_all[0], seed, n)
    first_group_cuts = segment(pixels, scale, outline_cuts=True).groups[0][0]
    assert first_group_cuts > 1


@pytest.mark.parametrize(("narrow", "text"), [(1, "17"), (4, "7")])
def test_a_narrow_piece_is_a_digit_when_it_reads_as_a_1(narrow, text):
    # A group cut at one point: a narrow piece (0.4 typical widths) and a normal one (0.9),
    # both read at 0.95, or the whole (1.3 wide) read as a 7 at 0.5. A 1 is that narrow,
    # a 4 is not: the same cut is a 1 beside a 7, or no cut at all.
    blank = np.zeros((28, 28), np.uint8)
    found = numbers.Segmentation(
        digits=[blank] * 3, boxes=[(0, 0, 4, 10), (4, 0, 9, 10), (0, 0, 13, 10)],
        widths=[0.4, 0.9, 1.3], shapes=[0.0] * 3, groups=[(2, [(0, 1, 0), (1, 2, 1), (0, 2, 2)])])
    read, _ = numbers.choose(found, labels=np.array([narrow, 7, 7]),
                             confidence=np.array([0.95, 0.95, 0.5]), runner_up=np.zeros(3, int))
    assert read.text == text


@pytest.mark.parametrize(("aspect", "text"), [(1.5, "81"), (1.0, "8")])
def test_a_group_shaped_like_two_digits_is_cut_when_its_pieces_read_nearly_as_well(aspect, text):
    # Tight writing: a 1 touching an 8. Read whole, the pair is an 8 (0.99, the verifier's
    # P(whole) 0.6); cut, an 8 (0.97, 0.5) and a 1 (0.99, 0.3), the verifier doubting the 1
    # as it doubts any lone stroke. A group half again as wide as tall is more likely two
    # digits than one: it is read "81"; the same pieces in a group as wide as tall, "8".
    blank = np.zeros((28, 28), np.uint8)
    found = numbers.Segmentation(
        digits=[blank] * 3, boxes=[(0, 0, 9, 10), (9, 0, 5, 10), (0, 0, 14, 10)],
        widths=[0.9, 0.45, 1.35], shapes=[0.0] * 3,
        groups=[(2, [(0, 1, 0), (1, 2, 1), (0, 2, 2)])], aspects=[aspect])
    read, _ = numbers.choose(found, labels=np.array([8, 1, 8]),
                             confidence=np.array([0.97, 0.99, 0.99]), runner_up=np.zeros(3, int),
                             whole=np.array([0.5, 0.3, 0.6]))
    assert read.text == text


@pytest.mark.parametrize(("text", "spelled"), [
    ("817", True), ("87", True), ("17", False), ("8", False), ("8171", False), ("717", False)])
def test_spells_tells_a_reading_the_candidates_hold(text, spelled):
    # Two groups: the first cut at one point (an 8 and a 1, or the pair read whole as an 8),
    # the second one piece (a 7). A reading takes one path through each group, left to
    # right: "817" and "87" are there; a reading that leaves a group out is not.
    blank = np.zeros((28, 28), np.uint8)
    found = numbers.Segmentation(
        digits=[blank] * 4, boxes=[(0, 0, 9, 10)] * 4, widths=[1.0] * 4, shapes=[0.0] * 4,
        groups=[(2, [(0, 1, 0), (1, 2, 1), (0, 2, 2)]), (1, [(0, 1, 3)])])
    assert numbers.spells(found, np.array([8, 1, 8, 7]), text) is spelled


def test_a_blank_page_has_no_digit():
    with pytest.raises(ImageError, match="no digit found"):
        segment(np.full((200, 400), 240, np.uint8))


@pytest.mark.parametrize("mark", [
    pytest.param((slice(40, 170), slice(0, 12)), id="the table along the edge"),
    pytest.param(None, id="an empty box"),
])
def test_a_blank_page_with_one_mark_shaped_like_no_digit_has_no_digit(mark):
    """A page whose only mark is no digit's shape (`refuse_non_digit`) is not read as a
    number of one digit."""
    page = np.full((200, 400), 240, np.uint8)
    if mark is None:
        page[60:140, 160:240] = 40
        page[63:137, 163:237] = 240  # the box's walls, 3 px
    else:
        page[mark] = 60
    with pytest.raises(ImageError, match="no digit found"):
        segment(page)


@pytest.mark.parametrize(("size", "margin", "turned"), [
    pytest.param((640, 480), True, 0.0, id="square to the camera, with a margin"),
    pytest.param((640, 480), False, 2.0, id="turned 2 degrees"),
    pytest.param((640, 480), False, 3.0, id="turned 3 degrees"),
    pytest.param((900, 700), True, 3.0, id="turned 3 degrees, with a margin"),
])
def test_a_photo_of_a_ruled_page_with_nothing_written_has_no_digit(size, margin, turned):
    """What the line finder leaves of a page's lines (blots where they cross the margin,
    their ends at the frame, beside the paper's grain) is no number."""
    data = photographed(ruled_page(*size, margin=margin), turned)
    with pytest.raises(ImageError, match="no digit found"):
        segment(*decode_page(data, LIMITS))


def blank_capture(kind: str, n: int) -> bytes:
    """The `n`-th page of `kind` of the capture sets' blank pages (`eval.make --blank`,
    seed 999): the page, lines, light and camera, nothing written."""
    return eval_make.capture(kind, 999, n, np.zeros((28, 28), np.uint8)).data


@pytest.mark.parametrize("n", [0, 1, 9])
def test_a_notebook_photo_with_nothing_written_has_no_digit(n):
    """Blank notebook pages, their lines turned and the light uneven: what the line finder
    leaves of the lines is slivers along their edges; those are no marks for the lines to
    end within (the test that keeps a number's own strokes taken for lines)."""
    with pytest.raises(ImageError, match="no digit found"):
        segment(*decode_page(blank_capture("notebook", n), LIMITS))


@pytest.mark.parametrize("n", [12, 16])
def test_a_stretch_of_a_ruled_line_the_finder_left_is_no_digit(n):
    """Blank notebook pages on which the line finder left a stretch of a rule (a mark as
    thin as a rule, as long as several digits) beside the blots where the rules cross the
    margin: the stretch is no digit, so neither are the blots (they were read
    "21424422142442242" and "177")."""
    with pytest.raises(ImageError, match="no digit found"):
        segment(*decode_page(blank_capture("notebook", n), LIMITS))


@pytest.mark.parametrize("n", [0, 7, 8])
def test_a_photo_in_shadow_with_nothing_written_has_no_digit(n):
    """Blank pages in shadow: the shadow's band and the page's shaded edge at the frame
    are shading, not digits cropped tight."""
    with pytest.raises(ImageError, match="no digit found"):
        segment(*decode_page(blank_capture("shadow", n), LIMITS))


@pytest.mark.parametrize(("kind", "n"), [("form", 4), ("form", 7), ("shadow", 1), ("shadow", 26)])
def test_a_blank_page_whose_structure_reads_as_one_or_two_digits_has_no_digit(small_model, kind,
                                                                              n):
    """An empty form box (its walls read "7", "11") or the page's edge in shadow ("2",
    "21") on a page with nothing written: a reading of one or two digits stands only where
    the single-digit front-end, stricter about printed structure and shade, finds a digit."""
    with pytest.raises(ImageError, match="no digit found"):
        read_number(small_model, *decode_page(blank_capture(kind, n), LIMITS))


@pytest.mark.parametrize("text", ["7", "42"])
def test_a_number_of_one_or_two_digits_is_read(mnist_test, small_model, text):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, text))
    assert read_number(small_model, page).text == text


@pytest.mark.parametrize("blur", [0.0, 2.0])
def test_a_number_cropped_tight_keeps_its_digits_at_the_frame(mnist_test, small_model, blur):
    """Numbers are often cropped to their ink: a digit the frame touches is a digit, not
    shading at the frame (a blurred photo's strokes still have sharp edges)."""
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "4071"), pad=1)
    page = ndimage.gaussian_filter(page.astype(np.float32), blur).astype(np.uint8)
    assert read_number(small_model, page).text == "4071"


def test_a_page_of_marks_is_not_a_number():
    page = np.full((400, 1000), 240, np.uint8)
    for row in range(5):
        for col in range(10):  # 50 digit-sized blobs
            page[20 + row * 75:70 + row * 75, 20 + col * 95:50 + col * 95] = 20
    with pytest.raises(ImageError, match="too many marks to read as a number"):
        segment(page)


def underlined(page: np.ndarray, gap: int, wave: float = 0.0, past: int = 10) -> np.ndarray:
    """`page` (a row by `write_row`) with a pen's line drawn under its digits, `gap` px
    below their lowest ink (0: the digits stand on it), 3 px thick, wandering `wave` px,
    running `past` px beyond the digits' ends (negative: stopping short of them)."""
    inked = np.flatnonzero((page < PAPER - 40).any(axis=1))
    cols = np.flatnonzero((page < PAPER - 40).any(axis=0))
    out = page.copy()
    for x in range(cols[0] - past, cols[-1] + past):
        y = inked[-1] + 1 + gap + round(wave * np.sin(x / 37))
        out[y:y + 3, x] = 20
    return out


@pytest.mark.parametrize("gap, wave, turn", [(0, 0.0, 0.0), (2, 2.5, 4.0), (0, 2.5, -4.0)])
def test_a_line_drawn_under_a_number_is_no_part_of_it(mnist_test, small_model, gap, wave,
                                                      turn):
    """People underline an amount or a total; 7s standing on the line read 2 with it."""
    images, labels = mnist_test
    page = underlined(write_row(digits_of(images, labels, "767730"), pad=40), gap, wave)
    if turn:
        page = np.asarray(Image.fromarray(page).rotate(turn, Image.Resampling.BILINEAR,
                                                       expand=True, fillcolor=int(PAPER)))
    assert read_number(small_model, page).text == "767730"


@pytest.mark.parametrize("text, gap", [("9419", -8), ("4747", -12), ("5410", -12), ("767730", -12)])
def test_a_line_crossed_by_the_digits_feet_is_no_part_of_them(mnist_test, small_model, text,
                                                              gap):
    """A line drawn a little high, wandering, through the feet of the digits reaching
    lowest: along them the lowest ink is theirs, so the line shows only in pieces between
    them, none as long as the number."""
    images, labels = mnist_test
    page = underlined(write_row(digits_of(images, labels, text), pad=40), gap, wave=1.5)
    assert read_number(small_model, page).text == text


@pytest.mark.parametrize("gap", [-2, 2])
def test_a_short_line_under_a_short_number_is_no_part_of_it(mnist_test, small_model, gap):
    """A line under three digits, stopping short of their ends: it is measured against the
    digits above it, not against digits, gap and line together."""
    images, labels = mnist_test
    page = underlined(write_row(digits_of(images, labels, "707"), pad=40), gap, past=-15)
    assert read_number(small_model, page).text == "707"


def ringed(page: np.ndarray, margin: int) -> np.ndarray:
    """`page` (a row by `write_row`) with a ring drawn around its digits by a pen 3 px
    wide, `margin` px beyond their ink above and below, twice that at the ends."""
    ink = page < PAPER - 40
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    out = Image.fromarray(page)
    ImageDraw.Draw(out).ellipse((cols[0] - 2 * margin - 10, rows[0] - margin,
                                 cols[-1] + 2 * margin + 10, rows[-1] + margin), outline=20,
                                width=3)
    return np.asarray(out)


@pytest.mark.parametrize("text, margin", [("767730", 10), ("4921", 12), ("580", 5), ("2716", 8)])
def test_a_ring_drawn_around_a_number_is_no_part_of_it(mnist_test, small_model, text, margin):
    """People circle a total or an answer; read with the digits, the ring was a 0 or a
    string of 1s beside them, or took the digits it touches with it."""
    images, labels = mnist_test
    page = ringed(write_row(digits_of(images, labels, text), pad=50), margin)
    assert read_number(small_model, page).text == text


@pytest.mark.parametrize("seed, n", [(3, 1), (11, 0),  # sides left by the line finder
                                     (3, 51), (11, 9),  # 1s inside, once taken for walls
                                     (3, 134), (3, 146)])  # every digit touching it
def test_a_box_drawn_around_a_number_is_no_part_of_it(mnist_all, small_model, seed, n):
    """A box drawn by hand around a number: its straight sides are long lines to the line
    finder, which takes some and leaves the others to be read as 1s; the 1s inside it are
    no walls of a form's comb field; digits touching it are still inside it."""
    data, text = drawn_number(mnist_all, "boxed", seed, n)
    page, scale = decode_page(data, ImageLimits(max_bytes=10**7, max_pixels=10**7))
    assert read_number(small_model, page, scale).text == text


@pytest.mark.parametrize("seed, n", [(11, 6), (5, 32), (11, 76)])
def test_touching_digits_are_no_ring_around_one_another(mnist_all, seed, n):
    """Tight writing on plain paper (`eval.numbers`): one mark of several digits, its
    strokes' outer layer is no ring, nor their cores digits inside one; nothing of the ink
    is taken out (the service's model read "951", "90" and "79" for 9614, 904 and 7954 when
    any piece deeper than the band counted as digits inside it)."""
    pixels, _ = tight_page(mnist_all[0], seed, n)
    assert not number_ink.ink_mask(pixels).printed.any()


def test_a_digit_s_loop_around_specks_is_no_ring(mnist_test, small_model):
    """A 0 with a speck of dirt inside is still a 0: a ring holds digits."""
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "0"), pad=40).copy()
    rows = np.flatnonzero((page < PAPER - 40).any(axis=1))
    cols = np.flatnonzero((page < PAPER - 40).any(axis=0))
    y, x = (rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2
    page[y - 1:y + 2, x - 1:x + 2] = 20
    assert read_number(small_model, page).text == "0"


@pytest.mark.parametrize("text, gap, slant", [("2222", -0.1, 0), ("5555", 0.0, 0), ("7", 0.3, 0),
                                              ("451", 0.3, 40), ("4", 0.3, 35)])
def test_digits_own_strokes_are_no_line_drawn_under_them(mnist_test, text, gap, slant):
    """The bases of touching 2s along a row, a 7's bar, a 1 or a 4's stroke written
    slanting: nothing of them is taken out."""
    images, labels = mnist_test
    digits = digits_of(images, labels, text)
    digits[-1] = np.asarray(Image.fromarray(digits[-1]).rotate(slant, expand=True))
    page = write_row(digits, gap=gap)
    assert not underline(page < PAPER - 60).any()


@pytest.mark.parametrize("below", ["92344", "7"])
def test_digits_in_several_rows_are_no_number(mnist_test, below):
    """Two numbers one above the other (a date over an amount) or a digit written under a
    number: read left to right they would interleave into one confident wrong number."""
    images, labels = mnist_test
    top, bottom = (write_row(digits_of(images, labels, text)) for text in ("39065", below))
    page = np.full((top.shape[0] + bottom.shape[0], top.shape[1]), PAPER, np.uint8)
    page[:top.shape[0]] = top
    page[top.shape[0]:, :bottom.shape[1]] = bottom
    with pytest.raises(ImageError, match="several rows of digits found"):
        segment(page)


@pytest.mark.parametrize("turn", [-5.0, 5.0])
def test_a_turned_drifting_row_is_one_row(mnist_test, small_model, turn):
    """A row turned as far as a photo turns it, its baseline drifting, is still one row: its
    first and last digits need not overlap in height, their neighbours do."""
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "5037146"), rises=[0, 4, 2, 8, 5, 10, 7])
    turned = np.asarray(Image.fromarray(page).rotate(turn, Image.Resampling.BILINEAR,
                                                     expand=True, fillcolor=int(PAPER)))
    assert read_number(small_model, turned).text == "5037146"


def test_an_mnist_image_is_a_one_digit_number(mnist_test, small_model):
    images, labels = mnist_test
    number = read_number(small_model, images[0])
    assert number.text == str(labels[0]) and len(number.digits) == 1


def test_the_work_per_image_is_bounded(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "8888888888"), gap=-0.1)  # one long blob
    found = segment(page)
    assert len(found.digits) <= MAX_CANDIDATES


def test_a_group_read_whole_beyond_any_cutting_is_not_cut(mnist_all, small_model,
                                                         monkeypatch):
    """Only the cuts that could win are read: the same readings as from every candidate
    piece, from fewer pieces (a wide 0 read confidently whole costs one piece, not a dozen).
    The same up to a pixel of a box: a group and the same group traced into its fainter
    ink can read alike to the last bits of the float32 kernel, and those bits depend on
    the batch a piece is predicted in (this machine's BLAS swapped two such 8s)."""
    images, _ = mnist_all
    pages = [decode_page(eval_numbers.number(kind, 3, n, images)[0], LIMITS)
             for kind in ("clean", "drift") for n in range(5)]
    every = [segment(*page, outline_cuts=small_model.wholeness is not None) for page in pages]
    rows: list[int] = []
    features = small_model.features
    monkeypatch.setattr(small_model, "features",
                        lambda digits: rows.append(len(digits)) or features(digits))
    read = numbers.read_numbers(small_model, pages)
    assert sum(rows) < sum(len(found.digits) for found in every)
    for found, number in zip(every, read, strict=True):
        all_read = numbers._predict(small_model, found.digits, True)
        expected, _ = numbers.choose(found, all_read.labels, all_read.confidence,
                                     all_read.runner_up, all_read.whole)
        assert [(d.prediction, d.confidence) for d in number.digits] == [
            (d.prediction, d.confidence) for d in expected.digits]
        assert all(np.abs(np.subtract(d.box, e.box)).max() <= 1
                   for d, e in zip(number.digits, expected.digits, strict=True))


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


def write_comb(digits: list[np.ndarray], cell: int = 60, spare: int = 1,
               faint: int | None = None, height: float = 0.7, style: str = "comb"
               ) -> np.ndarray:
    """A form's field: a row of places `cell` px wide, one digit in each (the digit `faint`
    written light grey), `height` of a place tall, `spare` empty places after them; printed
    as boxes sharing their walls (`comb`), boxes a fifth of a box `apart`, a line with
    `ticks` rising a third of a box from it between the places, or `underscores`: a line
    under each place, four fifths of it long, the places a fifth of a box apart."""
    boxes = len(digits) + spare
    pitch = cell + (cell // 5 if style in ("apart", "underscores") else 0)
    box_h = int(cell * 1.2)
    page = np.full((box_h + 80, boxes * pitch + 80), PAPER, np.float32)
    top, left = 40, 40
    bottom = top + box_h
    if style == "ticks":
        page[bottom - 1:bottom + 2, left:left + boxes * cell + 1] = 40
        for i in range(boxes + 1):
            page[bottom - box_h // 3:bottom, left + i * cell - 1:left + i * cell + 2] = 40
    elif style == "underscores":
        for x in (left + i * pitch for i in range(boxes)):
            page[bottom - 1:bottom + 2, x + cell // 10:x + cell - cell // 10] = 40
    else:
        for x in (left + i * pitch for i in range(boxes)):
            for wall in (x, x + cell):
                page[top:bottom, wall - 1:wall + 2] = 40
            for line in (top, bottom):
                page[line - 1:line + 2, x:x + cell + 1] = 40
    for i, digit in enumerate(digits):
        ink = scaled_ink(digit, int(height * box_h)) / 255.0
        ink = ink[:, :cell - 12]
        y = top + (box_h - ink.shape[0]) // 2
        x = left + i * pitch + (cell - ink.shape[1]) // 2
        level = 190 if i == faint else 20  # the darkest grey of its strokes
        region = page[y:y + ink.shape[0], x:x + ink.shape[1]]
        np.minimum(region, PAPER - ink * (PAPER - level), out=region)
    return page.astype(np.uint8)


def test_a_comb_field_is_read_box_by_box(mnist_test, small_model):
    images, labels = mnist_test
    # a 1 is as straight as a box's wall; the empty box at the end reads as nothing
    page = write_comb(digits_of(images, labels, "41170"))
    number = read_number(small_model, page)
    assert number.text == "41170"
    lefts = [d.box[0] for d in number.digits]
    assert all(40 + i * 60 < x < 40 + (i + 1) * 60 for i, x in enumerate(lefts))


@pytest.mark.parametrize("style", ["apart", "ticks"])
def test_a_field_of_boxes_apart_or_of_ticks_is_read_place_by_place(mnist_test, small_model,
                                                                   style):
    """Forms print a field as boxes apart, or as a line with ticks rising from it between
    the places, as often as a comb of boxes sharing their walls. Their walls and ticks are
    no 1s, and a 1 is no tick (the service's model read these "9121212011", "141111171011")."""
    images, labels = mnist_test
    page = write_comb(digits_of(images, labels, "41170"), style=style)
    number = read_number(small_model, page)
    assert number.text == "41170"
    pitch = 72 if style == "apart" else 60
    lefts = [d.box[0] for d in number.digits]
    assert all(40 + i * pitch < x < 40 + (i + 1) * pitch for i, x in enumerate(lefts))


@pytest.mark.parametrize(("seed", "n", "boxes"), [(3, 156, 5), (11, 172, 4)])
def test_a_digit_written_from_its_boxs_line_is_no_wall(mnist_all, seed, n, boxes):
    """Boxes printed apart (`python -m eval.numbers --kind boxes`) with a digit whose stem
    runs from the box's top line to near its foot (a 7, a 5): the stem was inked over most
    of the box's height, taken for a wall that split the box, and the field was refused for
    it, its walls read as 1s ("7328" read "711311211811", "5058" "13118151181"). A wall
    joins the two lines."""
    data, _, _ = eval_numbers.number("boxes", seed, n, mnist_all[0])
    cells = number_ink.ink_mask(decode_page(data, LIMITS)[0]).cells
    assert cells is not None and len(cells) == boxes


@pytest.mark.parametrize(("kind", "seed", "n"), [
    ("notebook", 13, 65), ("notebook", 17, 7), ("notebook", 31, 29), ("underlined", 3, 5)])
def test_digits_standing_on_a_line_are_no_ticks(mnist_all, kind, seed, n):
    """Digits written on a notebook's ruled line, or standing on a line drawn under them,
    meet the line as a field's ticks do; but their strokes go on past where a tick ends, or
    are as tall as digits, and a ruled line runs across the page (a first version of the
    tick finder took them for ticks: the service's model read these "24794275", "44",
    "62122093" and "7")."""
    data, _, _ = eval_numbers.number(kind, seed, n, mnist_all[0])
    assert number_ink.ink_mask(decode_page(data, LIMITS)[0]).cells is None


def test_a_field_of_lines_under_each_place_is_read_place_by_place(mnist_test, small_model):
    """A form's field printed as a line under each place (dashes to write on): the dashes
    are one line under the number, taken out (the service's model read this "41120")."""
    images, labels = mnist_test
    page = write_comb(digits_of(images, labels, "41170"), style="underscores")
    assert read_number(small_model, page).text == "41170"


@pytest.mark.parametrize("style", ["comb", "apart", "ticks", "underscores"])
def test_a_field_with_nothing_written_has_no_digit(style):
    """A form's field left empty, however printed, is no number (the service's model read
    five empty boxes apart as "1111111111", five dashes with nothing above them "77777":
    a dash is a line as thick as it is tall, no digit)."""
    with pytest.raises(ImageError, match="no digit found"):
        segment(write_comb([], spare=5, style=style))


@pytest.mark.parametrize(("kind", "seed", "n"), [
    ("underscores", 11, 0), ("underscores", 11, 2), ("underscores", 11, 4),
    ("comb", 11, 54), ("comb", 11, 69), ("boxes", 11, 53), ("comb", 3, 61), ("comb", 3, 74),
    ("ticks", 11, 24), ("comb", 11, 92)])
def test_a_photo_of_an_empty_field_has_no_digit(mnist_all, kind, seed, n):
    """The generator's fields with nothing written in them (`python -m eval.numbers --kind K
    --blank`), photographed. Dashes with nothing above them: 73 of 100 such fields read as
    7s ("77777777", "777", "7227777"). Empty boxes: each box's paper grain, under a page
    threshold that only the printed lines set, read as digits ("731", "4488", "22222",
    "488", "574"); a field's last tick, left out of the outline found, at its last box's
    side, read as "1"; a comb whose outline has a JPEG's streak beside a wall, its walls
    read as "111"."""
    data, _, _ = eval_numbers.number(kind, seed, n, mnist_all[0], blank=True)
    with pytest.raises(ImageError, match="no digit found"):
        segment(*decode_page(data, LIMITS))


@pytest.mark.parametrize("spare", [0, 1])
@pytest.mark.parametrize("text", ["4", "9", "1", "59", "27"])
def test_a_field_of_one_or_two_small_boxes_is_read_box_by_box(mnist_test, small_model, text,
                                                              spare):
    """A form's day or month: one or two boxes (and a spare), too few for a comb's lattice
    and, 30 px wide, too short for the line finder. Their walls are no 1s (the service's
    model read "4" with a spare box as "191", "59" as "133")."""
    images, labels = mnist_test
    page = write_comb(digits_of(images, labels, text), cell=30, spare=spare)
    number = read_number(small_model, page)
    assert number.text == text
    assert all(40 + i * 30 < d.box[0] < 40 + (i + 1) * 30 for i, d in enumerate(number.digits))


@pytest.mark.parametrize(("seed", "n", "index", "text"), [
    (3, 9, 9592, "4"), (3, 71, 4344, "9"), (7, 62, 102, "5")])
def test_a_box_standing_on_a_forms_rule_is_read_as_its_digit(mnist_all, small_model, seed, n,
                                                              index, text):
    """Capture form pages (`eval.make`) whose box stands on a printed rule that runs on to
    the page's edge and joins the box's mark: the box is still found from its outline (they
    were read "2", "131" and "51")."""
    page = eval_make.capture("form", seed, n, mnist_all[0][index]).data
    assert read_number(small_model, *decode_page(page, LIMITS)).text == text


def test_a_box_drawn_around_a_whole_number_is_no_field_of_one_box(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "385"), pad=40)
    inside = page[13:-13, 13:-13].copy()
    page[10:-10, 10:-10] = 40  # a box drawn close around the number: its walls 3 px thick
    page[13:-13, 13:-13] = inside
    assert read_number(small_model, page).text == "385"


def test_a_faint_digit_in_a_comb_field_is_read(mnist_test, small_model):
    images, labels = mnist_test
    page = write_comb(digits_of(images, labels, "2583"), faint=1, spare=0)
    assert read_number(small_model, page).text == "2583"


@pytest.mark.parametrize(("seed", "n", "text"), [
    (5, 66, "295"), (17, 190, "2626"), (17, 191, "408"), (31, 87, "8261198")])
def test_a_bold_digit_s_thin_strokes_in_a_comb_s_box_are_no_printed_line(mnist_all, seed, n,
                                                                          text):
    """Comb fields of `eval.numbers` (small, bold digits: their rows average out as dark as
    a printed line, and the line finder keeps their thinner, lighter strokes as one). Inside
    a box, away from its sides, every stroke is the digit's: a 9's loop stays closed (the
    service's model read these "275", "2622", "405" and "8261178")."""
    data, _, _ = eval_numbers.number("comb", seed, n, mnist_all[0])
    marked = number_ink.ink_mask(decode_page(data, LIMITS)[0])
    for rows, cols in marked.cells[:len(text)]:
        inside = (slice(rows.start + 4, rows.stop - 4), slice(cols.start + 4, cols.stop - 4))
        strokes = marked.ink[inside] >= 0.3 * marked.ink[inside].max()
        assert marked.mask[inside][strokes].all()


@pytest.mark.parametrize(("seed", "n", "text"), [
    (11, 54, "218"), (11, 69, "957"), (31, 174, "2687722"), (17, 184, "094416")])
def test_a_digit_in_a_comb_s_box_is_traced_no_further_than_its_strokes(mnist_all, seed, n,
                                                                         text):
    """Comb fields of `eval.numbers` photographed as JPEGs: the grain and ringing of a box's
    paper around a bold digit reach past the page's noise level, measured on its smooth
    margins. A box's faint ink is traced down to its own paper's level: the digit's mask
    stays on its strokes (traced into its paper, a 1 grew into a blob read as 7; the
    service's model read these "278", "952", "2687922" and "064416")."""
    data, _, _ = eval_numbers.number("comb", seed, n, mnist_all[0])
    marked = number_ink.ink_mask(decode_page(data, LIMITS)[0])
    for rows, cols in marked.cells[:len(text)]:
        ink, mask = marked.ink[rows, cols], marked.mask[rows, cols]
        strokes = dilated(ink >= 0.3 * ink.max(), steps=3)
        assert np.count_nonzero(mask & ~strokes) <= 0.05 * np.count_nonzero(mask)


@pytest.mark.parametrize(("n", "index", "text"), [
    (30, 9266, "2"), (85, 4850, "8"), (87, 7853, "8"), (90, 8031, "2"), (40, 9431, "3")])
def test_a_digit_on_squared_paper_is_read_with_its_grid_taken_out(mnist_all, small_model, n,
                                                                   index, text):
    """Capture pencil pages of seed 3 (`eval.make`): squared paper is no comb field (its
    lines go on above and below any row of it), so its grid is taken out as printed lines
    and the digit read as a one-digit number (the three after the first read "41", "no digit
    found" and "no digit found", each row of the grid taken for a field's boxes); nor is
    the grid a box drawn around the digit (the last, touching its frame, lost its top to
    the frame's band and read "5")."""
    data = eval_make.capture("pencil", 3, n, mnist_all[0][index]).data
    pixels, scale = decode_page(data, LIMITS)
    assert number_ink.ink_mask(pixels).cells is None
    assert read_number(small_model, pixels, scale).text == text


@pytest.mark.parametrize("seed, n", [(3, 1), (3, 3), (3, 13), (11, 0), (11, 3)])
def test_a_number_on_squared_paper_is_read_with_its_grid_taken_out(mnist_all, small_model,
                                                                    seed, n):
    """`eval.numbers`' squared paper: a number is a wide strip, and its grid's lines across
    it are short against its width, but they cross it and repeat, as the lines along it do
    (they were left in the ink, read as 1s or joined the digits into one mark)."""
    data, text = drawn_number(mnist_all, "squared", seed, n)
    assert read_number(small_model, *decode_page(data, LIMITS)).text == text


def test_squared_paper_whose_other_lines_bold_digits_hide_is_read_with_its_grid_out(
        mnist_all, small_model):
    """`eval.numbers --kind squared --seed 2`, number 161: bold 0s written across one of the
    strip's two lines along it, so only one is found; its lines across were taken for
    strokes, joined to the 0s (read "6", with a stub of the line above each) until enough
    of them cross the strip to be squared paper's."""
    data, text = drawn_number(mnist_all, "squared", 2, 161)
    assert text == "0007"
    assert read_number(small_model, *decode_page(data, LIMITS)).text == text


@pytest.mark.parametrize("seed, n", [(3, 0), (3, 319), (2, 32), (2, 132), (2, 289), (2, 329)])
def test_a_light_digit_on_squared_paper_is_traced_across_the_grid_not_along_it(
        mnist_all, small_model, seed, n):
    """`eval.numbers`' squared paper with a digit written much lighter than the rest: its
    specks, or its darkest stroke, are traced into its faint ink, which reaches the grid
    lines' blurred edges too. Traced along them, the digit joined the grid (too big to be a
    digit: dropped, `848` for `8448`) or a stretch of it (misread), or its tracing reached
    its neighbours, and a digit that reaches another is left as it was (`2364` for
    `23624`). Traced only across them, it is read."""
    data, text = drawn_number(mnist_all, "squared", seed, n)
    assert read_number(small_model, *decode_page(data, LIMITS)).text == text


def test_what_light_ink_beside_a_box_wall_traces_is_no_digit(mnist_all, small_model):
    """`eval.numbers --kind boxed --seed 3`, number 167: `3586` in a drawn box, its light 3
    against the left wall. Traced from the 3, the faint ink runs down the wall just past its
    blurred edge, and what the tracing adds lies mostly within 2 px of the printed line:
    what is left of the line, not more of the digit (added, it was read `31586`)."""
    data, text = drawn_number(mnist_all, "boxed", 3, 167)
    assert text == "3586"
    assert read_number(small_model, *decode_page(data, LIMITS)).text == text


@pytest.mark.parametrize("n, angle", [(0, 12), (3, -12), (4, 12), (7, -12)])
def test_a_notebook_number_photographed_turned_12_degrees_is_read(mnist_all, small_model, n,
                                                                   angle):
    """`eval.numbers`' notebook pages turned 12° (the corners the turn uncovers filled with
    the paper's colour): the ruled lines are found at that tilt and taken out (they were
    left in the ink past the capture front-end's 10°)."""
    data, text = drawn_number(mnist_all, "notebook", 3, n)
    photo = Image.open(io.BytesIO(data)).convert("RGB")
    turned = photo.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC,
                          fillcolor=photo.getpixel((0, 0)))
    assert read_number(small_model, np.asarray(turned)).text == text


def test_a_line_across_a_field_s_boxes_stays_a_printed_line():
    """Inside a field's boxes, what the line finder took for line is line at the boxes'
    sides and where it runs across them (a row, across another box too: a grid's); a
    stroke's piece in the middle of a box is the digit's."""
    printed = np.zeros((60, 100), dtype=bool)
    printed[30, :] = True  # a grid's row through both boxes
    printed[15:25, 25] = True  # a digit's thin stroke in the first box
    boxes = [(slice(10, 50), slice(10, 45)), (slice(10, 50), slice(55, 90))]
    first, second = number_ink._box_lines(printed, boxes)
    assert first[20].all() and second[20].all()  # (row 30 of the page)
    assert not first[5:15, 15].any()  # the stroke
    alone = number_ink._box_lines(printed, boxes[:1])[0]  # one box: no grid's row
    assert alone[20, :4].all() and not alone[20, 4:-4].any()  # only at its sides


def test_tall_ones_in_a_comb_field_are_neither_its_walls_nor_boxes(mnist_test, small_model):
    images, labels = mnist_test
    one = np.zeros((28, 28), np.uint8)
    one[4:24, 13:15] = 255  # written straight down, as tall as the box
    # In the middle of their boxes such ones make a lattice of half the walls' spacing,
    # and their ends come near the printed lines, as a wall's would.
    page = write_comb([*digits_of(images, labels, "7"), one, one, one,
                       *digits_of(images, labels, "6")], height=0.9, spare=0)
    assert read_number(small_model, page).text == "71116"


def test_a_digit_broken_in_its_box_keeps_its_lighter_detached_stroke(mnist_test,
                                                                     small_model):
    images, labels = mnist_test
    seven = digits_of(images, labels, "7")[0].astype(np.float32)
    top = int(np.flatnonzero(seven.max(axis=1) > 30)[0])
    seven[top + 4:top + 6] = 0  # the bar lifted off the stem...
    seven[:top + 4] *= 0.6  # ...and written lighter: a small part of the box's ink
    page = write_comb([*digits_of(images, labels, "38"), seven.astype(np.uint8)], spare=0)
    assert read_number(small_model, page).text == "387"


def test_a_light_grainy_digit_in_its_box_is_read_whole(mnist_test, small_model):
    images, labels = mnist_test
    page = write_comb(digits_of(images, labels, "0427"), spare=0, faint=2)
    page = page.astype(np.float32)
    # The third box's light digit in pencil grain: in places its strokes fall under the
    # page's ink level, and only tracing them from its darker parts keeps them.
    box = (slice(42, 110), slice(161, 219))
    grain = ndimage.uniform_filter(np.random.default_rng(0).uniform(0, 1, (68, 58)), 5)
    grain = (grain - grain.min()) / (grain.max() - grain.min())
    page[box] = PAPER - (PAPER - page[box]) * (0.05 + 0.95 * grain)
    assert read_number(small_model, page.astype(np.uint8)).text == "0427"


def test_ruled_lines_through_a_row_are_not_a_comb_field(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "3062"))
    page[::28, :] = 120  # ruled paper: lines across the whole page, through the digits
    assert read_number(small_model, page).text == "3062"


@pytest.mark.parametrize(("text", "gap"), [("500663", -0.075), ("1333367", -0.028),
                                         ("7631332", -0.082)])
def test_touching_digits_strokes_are_not_taken_for_printed_lines(mnist_test, small_model,
                                                                  text, gap):
    images, labels = mnist_test
    # A bold pen, neighbours touching: their strokes make long runs along the rows, but
    # what the line finder keeps of them is short bits, not a line across the page.
    bold = [ndimage.grey_dilation(d, size=(2, 2)) for d in digits_of(images, labels, text)]
    assert read_number(small_model, write_row(bold, gap=gap)).text == text


@pytest.mark.parametrize(("seed", "n"), [(3, 136), (7, 151), (7, 179)])
def test_strokes_of_tight_writing_are_not_removed_as_printed_lines(mnist_all, monkeypatch,
                                                                   seed, n):
    # Tight writing in pens of several weights, no printed line on the page: a light 1
    # meeting its neighbour's bar, or touching digits' joined strokes, make runs as long as
    # a printed line's, but they end within the number; no ink is removed as a line.
    pixels, _ = tight_page(mnist_all[0], seed, n)
    factor = number_ink.analysis_factor(pixels)
    page = reduce_blocks(pixels, factor) if factor > 1 else pixels
    marked = number_ink.ink_mask(page)
    assert marked.mask[marked.ink >= marked.threshold].all()
    # (the line finder alone takes some of the digits' strokes for printed lines)
    monkeypatch.setattr(number_ink, "_unless_within_number", lambda lines, mask: lines)
    marked = number_ink.ink_mask(page)
    assert not marked.mask[marked.ink >= marked.threshold].all()


@pytest.mark.parametrize(("text", "gap"), [("0038", -0.093), ("3824", -0.204),
                                         ("7530", -0.054)])
def test_touching_digits_are_not_taken_for_a_comb_field(mnist_test, small_model, text, gap):
    images, labels = mnist_test
    # Overlapping neighbours' strokes make long straight runs and upright columns inked
    # from one run to the other, but the line finder takes none of those runs for print.
    page = write_row(digits_of(images, labels, text), gap=gap)
    assert read_number(small_model, page).text == text


def test_a_one_between_ruled_lines_just_clear_of_it_is_not_a_box_wall(mnist_test, small_model):
    images, labels = mnist_test
    one = np.zeros((28, 28), np.uint8)
    one[4:24, 12:16] = 255  # straight down, as a printed wall is
    page = write_row([one if c == "1" else digits_of(images, labels, c)[0] for c in "3162"])
    # ruled lines 3 px above and below the digits: a box's walls meet its lines, the 1 not
    page[25:27, :] = 150
    page[89:91, :] = 150
    assert read_number(small_model, page).text == "3162"


def test_a_number_in_a_box_is_read_without_its_walls(mnist_test, small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "1170"))
    h, w = page.shape
    top, left, bottom, right = 24, 24, h - 24, w - 24  # a printed box close around it
    page[top:top + 3, left:right] = 40
    page[bottom - 3:bottom, left:right] = 40
    page[top:bottom, left:left + 3] = 40
    page[top:bottom, right - 3:right] = 40
    assert read_number(small_model, page).text == "1170"


def test_big_digits_are_read_as_small_ones_with_boxes_in_upload_pixels(mnist_test,
                                                                      small_model):
    images, labels = mnist_test
    page = write_row(digits_of(images, labels, "5274"), height=240, pad=100)
    number = read_number(small_model, page)
    assert number.text == "5274"
    assert all(220 <= d.box[3] <= 260 and 90 <= d.box[1] <= 110 for d in number.digits)


def test_a_comb_box_holds_one_digit(mnist_all):
    """Each printed box of a comb field is one digit: a wide digit in its box is offered no
    cut (seed 5's comb number 76, "0425", was read "01425")."""
    data, _, _ = eval_numbers.number("comb", 5, 76, mnist_all[0])
    found = segment(*decode_page(data, LIMITS))
    assert len(found.groups) == 4
    assert all(len(pieces) == 1 for _, pieces in found.groups)
