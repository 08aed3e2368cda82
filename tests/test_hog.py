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


def _spatial_reference(bins: np.ndarray, weights: np.ndarray, cell: int) -> np.ndarray:
    """Each pixel's vote added to its 2x2 nearest cells by bilinear weights, pixel by pixel."""
    rows = bins.shape[0] // cell
    out = np.zeros((rows, rows, 18))
    centre = (np.arange(bins.shape[0]) + 0.5) / cell - 0.5
    for y, x in np.ndindex(bins.shape):
        for i in (int(np.floor(centre[y])), int(np.floor(centre[y])) + 1):
            for j in (int(np.floor(centre[x])), int(np.floor(centre[x])) + 1):
                if 0 <= i < rows and 0 <= j < rows:
                    share = (1 - abs(centre[y] - i)) * (1 - abs(centre[x] - j))
                    out[i, j, bins[y, x]] += share * weights[y, x]
    return out / (cell * cell)


@pytest.mark.parametrize("soft", [False, True])
def test_spatial_interpolation_shares_each_vote_between_the_four_nearest_cells(
    digits, soft: bool
) -> None:
    from core.hog import _gradient_votes, _spatial_histograms

    spec = HogSpec(soft=soft, spatial=True)
    votes = _gradient_votes(digits[:2], spec)
    histograms = _spatial_histograms(votes, spec.cells, spec.orientations)
    pairs = [(votes.bins, votes.weights)]
    if soft:
        pairs.append((votes.next_bins, votes.next_weights))
    for cell, ours in zip(spec.cells, histograms, strict=True):
        for n in range(2):
            reference = sum(_spatial_reference(b[n], w[n], cell) for b, w in pairs)
            np.testing.assert_allclose(ours[n], reference, atol=1e-6)
    whole = hog_batch(digits, spec)
    np.testing.assert_allclose(whole[600:610], hog_batch(digits[600:610], spec), atol=1e-6)
    assert whole.shape == (700, 3240) and np.isfinite(whole).all()


def test_a_recipe_saved_before_spatial_interpolation_reads_as_its_own_features() -> None:
    from core.features import FeatureSpec
    from core.training import DEFAULT_RECIPE

    saved = {"kind": "hog", "deskew": True, "sqrt": True,
             "hog": {"orientations": 18, "cells": [4, 7], "block": 2, "signed": True, "soft": True}}
    assert FeatureSpec.from_dict(saved).hog == HogSpec(soft=True, spatial=False)
    assert FeatureSpec.from_dict(DEFAULT_RECIPE.features.to_dict()) == DEFAULT_RECIPE.features
    assert DEFAULT_RECIPE.features.hog.spatial
