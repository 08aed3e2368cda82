"""The batched gradient histograms equal scikit-image's `hog`, image by image."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import load_split
from core.features import HOG, PIXELS, to_features
from core.hog import HogSpec, hog_batch


@pytest.fixture(scope="module")
def digits(data_dir) -> np.ndarray:
    images, _ = load_split(data_dir, "test", limit=700)
    return images.astype(np.float32) / 255


@pytest.mark.parametrize(("orientations", "cell"), [(9, 4), (18, 7), (6, 7)])
def test_unsigned_histograms_equal_scikit_image(digits, orientations: int, cell: int) -> None:
    skimage_feature = pytest.importorskip("skimage.feature")
    spec = HogSpec(orientations=orientations, cells=(cell,), signed=False)
    ours = hog_batch(digits[:8], spec)
    reference = np.stack([
        skimage_feature.hog(image, orientations, (cell, cell), (2, 2), "L2-Hys")
        for image in digits[:8]
    ])
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_cells_that_do_not_fill_the_image_leave_its_edge_out() -> None:
    skimage_feature = pytest.importorskip("skimage.feature")
    noise = np.random.default_rng(0).random((3, 30, 30)).astype(np.float32)
    ours = hog_batch(noise, HogSpec(orientations=9, cells=(4,), signed=False))
    reference = np.stack([skimage_feature.hog(i, 9, (4, 4), (2, 2), "L2-Hys") for i in noise])
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_signed_orientations_tell_the_two_sides_of_a_stroke_apart() -> None:
    rising = np.zeros((1, 28, 28), dtype=np.float32)
    rising[0, :, 14:] = 1.0  # dark to light, left to right: gradient at 0 degrees
    falling = 1.0 - rising  # light to dark: 180 degrees
    spec = HogSpec(orientations=18, cells=(28,), block=1)
    up, down = hog_batch(rising, spec)[0], hog_batch(falling, spec)[0]
    assert up.argmax() == 0 and down.argmax() == 9
    unsigned = HogSpec(orientations=9, cells=(28,), block=1, signed=False)
    np.testing.assert_allclose(hog_batch(rising, unsigned), hog_batch(falling, unsigned))


def test_soft_bins_share_a_vote_between_the_two_nearest_bins() -> None:
    rising = np.zeros((1, 28, 28), dtype=np.float32)
    rising[0, :, 14:] = 1.0  # 0 degrees: halfway between the centres of bins 17 and 0
    spec = HogSpec(orientations=18, cells=(28,), block=1, soft=True)
    votes = hog_batch(rising, spec)[0]
    assert votes[0] == pytest.approx(votes[17]) and votes[0] > 0.7
    assert np.count_nonzero(votes) == 2
    diagonal = np.fromfunction(lambda r, c: (c > r).astype(np.float32), (28, 28))[None]
    votes = hog_batch(diagonal, spec)[0]  # gradient at -45 degrees = 315: bin 15's centre is 310
    assert votes.argmax() == 15 and votes[16] > votes[14]


def test_blocks_are_computed_alike_in_any_batch(digits) -> None:
    whole = hog_batch(digits)  # more than one internal block of images
    np.testing.assert_array_equal(whole[600:610], hog_batch(digits[600:610]))
    assert whole.shape == (700, HogSpec().n_features()) == (700, 3240)
    assert whole.dtype == np.float32 and np.isfinite(whole).all()


def test_a_blank_image_has_zero_features() -> None:
    blank = np.zeros((2, 28, 28), dtype=np.uint8)
    assert not to_features(blank, HOG).any()
    assert to_features(blank, PIXELS).shape == (2, 784)
