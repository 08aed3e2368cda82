"""Deskewing a batch gives what the seed's per-image reference gives, and never NaN."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import load_split
from core.deskew import deskew_batch, deskew_reference
from core.features import to_features


@pytest.fixture(scope="module")
def digits(data_dir) -> np.ndarray:
    images, _ = load_split(data_dir, "test", limit=300)
    return images.astype(np.float32) / 255.0


def test_batch_equals_the_per_image_reference(digits: np.ndarray) -> None:
    batch = deskew_batch(digits)
    reference = np.stack([deskew_reference(image) for image in digits])
    assert batch.shape == digits.shape and batch.dtype == np.float32
    np.testing.assert_allclose(batch, reference, atol=1e-5)


def test_edge_cases_match_the_reference() -> None:
    rng = np.random.default_rng(0)
    odd = np.zeros((4, 28, 28), dtype=np.float32)
    odd[0, 0:3, 20:28] = 1.0  # ink touching the border
    odd[1, 10, 5:20] = 1.0  # one row of ink: no row variance, no shear
    odd[2, 27, 27] = 0.5  # a single corner pixel
    odd[3] = rng.random((28, 28), dtype=np.float32)  # ink everywhere
    reference = np.stack([deskew_reference(image) for image in odd])
    np.testing.assert_allclose(deskew_batch(odd), reference, atol=1e-5)


def test_a_blank_image_stays_blank_without_nan(digits: np.ndarray) -> None:
    stack = digits[:3].copy()
    stack[1] = 0.0
    out = deskew_batch(stack)
    assert not np.isnan(out).any()
    assert not out[1].any()
    np.testing.assert_allclose(out[0], deskew_reference(digits[0]), atol=1e-5)
    assert not deskew_reference(np.zeros((28, 28), dtype=np.float32)).any()


def test_a_sheared_stroke_comes_out_upright() -> None:
    slanted = np.zeros((1, 28, 28), dtype=np.float32)
    for row in range(6, 22):
        slanted[0, row, 8 + (row - 6) // 2: 10 + (row - 6) // 2] = 1.0
    upright = deskew_batch(slanted)[0]
    columns = (upright * np.arange(28)).sum(axis=1) / np.maximum(upright.sum(axis=1), 1e-9)
    inked = upright.sum(axis=1) > 0.5
    assert np.ptp(columns[inked]) < 1.5  # the stroke's column no longer drifts with the row


def test_features_are_flat_deskewed_pixels(digits: np.ndarray) -> None:
    images = np.round(digits[:5] * 255).astype(np.uint8)
    features = to_features(images)
    assert features.shape == (5, 784) and features.dtype == np.float32
    assert features.min() >= 0.0 and features.max() <= 1.0 + 1e-6
    np.testing.assert_allclose(features[2], deskew_reference(images[2] / np.float32(255)).ravel(),
                               atol=1e-5)
