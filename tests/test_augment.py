"""Training copies (core/augment.py): seeded, in MNIST form, labelled as their originals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import core.augment as augment
from core.augment import low_resolution_copies, other_hand_copies
from core.data import load_split


@pytest.fixture(scope="module")
def digits(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    return load_split(data_dir, "train", limit=60)


@pytest.mark.parametrize("make", [other_hand_copies, low_resolution_copies])
def test_copies_are_seeded_and_labelled_as_their_originals(make, digits) -> None:
    images, labels = digits
    copies, copy_labels, origin = make(images, labels, seed=3)
    again = make(images, labels, seed=3)
    np.testing.assert_array_equal(copies, again[0])
    np.testing.assert_array_equal(origin, again[2])
    assert not np.array_equal(copies, make(images, labels, seed=4)[0])
    assert copies.shape == (len(origin), 28, 28) and copies.dtype == np.uint8
    assert len(origin) >= 0.8 * len(images)  # a copy without a digit is dropped
    np.testing.assert_array_equal(copy_labels, labels[origin])


def test_other_hand_copies_are_in_mnist_form_and_differ_from_the_original(digits) -> None:
    images, labels = digits
    copies, _, origin = other_hand_copies(images, labels, seed=0)
    assert copies.max(axis=(1, 2)).min() == 255  # normalised: saturated ink
    border = np.concatenate([copies[:, 0], copies[:, -1], copies[:, :, 0], copies[:, :, -1]])
    assert border.max() == 0  # a 20-px box centred by its mass, as MNIST
    changed = np.abs(copies.astype(int) - images[origin].astype(int)).mean(axis=(1, 2))
    assert changed.min() > 0


def test_a_bolder_pen_draws_more_ink_than_a_finer_one(digits, monkeypatch) -> None:
    images, _ = digits
    ink = {}
    for pen in (-2, 0, 2):
        monkeypatch.setattr(augment, "HAND_PEN", (pen, pen))
        monkeypatch.setattr(augment, "HAND_DISPLACEMENT", 0.0)
        monkeypatch.setattr(augment, "HAND_BLUR", 0.0)
        drawn = [augment._other_hand(d, np.random.default_rng(0)) for d in images[:20]]
        ink[pen] = np.mean([(d >= 128).sum() for d in drawn])
    assert ink[-2] < ink[0] < ink[2]


def test_training_with_other_hand_copies_adds_their_rows(digits) -> None:
    from core.training import SMALL_RECIPE, train_model

    images, labels = digits
    many_images = np.concatenate([images] * 5)
    many_labels = np.concatenate([labels] * 5)
    recipe = replace(SMALL_RECIPE, pca_components=20, calibration_holdout=0, hand_share=0.5)
    model = train_model(many_images, many_labels, recipe)
    assert 300 + 0.9 * 150 <= model.metadata["training_rows"] <= 450
    assert model.metadata["recipe"]["hand_share"] == 0.5
