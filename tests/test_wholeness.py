"""The number reader's whole-digit verifier (core/wholeness.py): a digit cut in half or two
touching digits score lower than one whole digit, it is saved with the model, an old model
without it reads as before, and single digits are read exactly as without it."""

from __future__ import annotations

import base64
import json

import joblib
import numpy as np
import pytest

from core.data import load_split
from core.imaging import ImageLimits, normalise
from core.metadata import VERIFIER_WEIGHTS, described, file_sha256, metadata_path
from core.model import DigitModel
from core.numbers import read_number
from core.pipeline import predict_files
from core.wholeness import VERIFIERS, add_wholeness
from tests.support import encode
from tests.test_numbers import digits_of, scaled_ink, write_row

VERIFIER_PIECES = 12_000  # half a minute; the real one is trained on 30,000
VERIFIER_DIGITS = 20_000  # training digits the pieces are drawn from


@pytest.fixture(scope="module")
def verified(small_model_path, data_dir, tmp_path_factory) -> DigitModel:
    """The small test model with a verifier trained on pieces of its own training digits,
    saved and loaded back."""
    model = DigitModel.load(small_model_path)
    images, _ = load_split(data_dir, "train", limit=VERIFIER_DIGITS)
    add_wholeness(model, images, VERIFIER_PIECES, members=1)  # `mnistq train`'s: three
    path = tmp_path_factory.mktemp("verified") / "model.joblib"
    model.save(path)
    return DigitModel.load(path)


@pytest.fixture(scope="module")
def mnist_test(data_dir):
    return load_split(data_dir, "test", limit=400)


def _whole(model: DigitModel, pieces: list[np.ndarray]) -> np.ndarray:
    return model.whole(model.features(np.stack([normalise(p) for p in pieces])))


def test_a_digit_cut_in_half_scores_lower_than_the_whole_digit(verified, mnist_test):
    images, labels = mnist_test
    for digit in digits_of(images, labels, "046789"):
        ink = scaled_ink(digit, 56).astype(np.float32)
        half = ink[:, : ink.shape[1] // 2]
        whole, cut = _whole(verified, [ink, half])
        assert whole > 0.5 > cut


def test_two_touching_digits_score_lower_than_each_alone(verified, mnist_test):
    images, labels = mnist_test
    for pair in ("30", "86", "47", "90"):
        left, right = (scaled_ink(d, 56).astype(np.float32)
                       for d in digits_of(images, labels, pair))
        touching = np.zeros((56, left.shape[1] + right.shape[1] - 4), np.float32)
        touching[:, : left.shape[1]] = left
        np.maximum(touching[:, -right.shape[1]:], right, out=touching[:, -right.shape[1]:])
        alone_left, alone_right, both = _whole(verified, [left, right, touching])
        assert both < 0.5 < min(alone_left, alone_right)


def test_the_verifier_is_saved_with_the_model(verified, small_model, mnist_test, tmp_path):
    assert verified.wholeness is not None and "wholeness" in verified.metadata
    assert small_model.wholeness is None  # a model trained without it
    assert small_model.whole(np.zeros((1, 1))) is None
    features = verified.features(mnist_test[0][:20])
    loaded = DigitModel.load(verified.save(tmp_path / "verified.joblib"))
    assert np.allclose(loaded.whole(features), verified.whole(features))
    # in the artifact, under its SHA-256 (the version's name); the metadata has its summary
    assert loaded.metadata["wholeness"]["pieces"] > 0
    assert not set(VERIFIER_WEIGHTS) & set(loaded.metadata["wholeness"])


def test_a_model_of_format_2_reads_with_the_verifier_in_its_metadata(verified, mnist_test,
                                                                     tmp_path):
    """Models saved before the verifier moved into the artifact keep reading numbers the same;
    what the API and the heartbeat show of them is the summary, not 35 KB of weights."""
    path = tmp_path / "format2.joblib"
    joblib.dump(verified.estimator, path)
    (verifier,) = verified.wholeness.members  # format 2 held one
    weights = {name: base64.b64encode(np.asarray(getattr(verifier, name), "<f4").tobytes())
               .decode() for name in VERIFIER_WEIGHTS}
    metadata = {**verified.metadata, "format": 2, "sha256": file_sha256(path),
                "wholeness": {**verified.metadata["wholeness"], **weights,
                              "out_bias": verifier.out_bias}}
    metadata_path(path).write_text(json.dumps(metadata))
    loaded = DigitModel.load(path)
    features = verified.features(mnist_test[0][:20])
    assert np.allclose(loaded.whole(features), verified.whole(features), atol=1e-5)
    shown = described(loaded.metadata)["wholeness"]
    assert shown["pieces"] > 0 and not set(VERIFIER_WEIGHTS) & set(shown)


def test_touching_digits_are_split_with_the_verifier(verified, mnist_test):
    images, labels = mnist_test
    for text in ("4096", "5230", "7183"):
        for overlap in (0.05, 0.1):  # of a digit's height
            page = write_row(digits_of(images, labels, text), gap=-overlap)
            assert read_number(verified, page).text == text


def test_single_digits_read_as_without_the_verifier(verified, small_model, mnist_test):
    images, _ = mnist_test
    items = [(i, f"{i}.png", encode(images[i], "PNG")) for i in range(50)]
    limits = ImageLimits(10**7, 10**8)
    plain = [r.to_dict() for r in predict_files(small_model, items, limits)]
    checked = [r.to_dict() for r in predict_files(verified, items, limits)]
    assert checked == plain


def test_training_with_the_recipe_s_verifier_keeps_it_in_the_model(data_dir, tmp_path):
    from dataclasses import replace

    from core.training import DEFAULT_RECIPE, SMALL_RECIPE, train_model

    assert DEFAULT_RECIPE.wholeness_pieces > 0  # `mnistq train` trains one
    images, labels = load_split(data_dir, "train", limit=1500)
    model = train_model(images, labels, replace(SMALL_RECIPE, calibration_holdout=0,
                                                wholeness_pieces=1000))
    path = model.save(tmp_path / "model.joblib")
    loaded = DigitModel.load(path)
    assert loaded.wholeness is not None
    assert loaded.metadata["recipe"]["wholeness_pieces"] == 1000
    rows = loaded.features(images[:5])
    assert np.allclose(loaded.whole(rows), model.whole(rows))
    # several verifiers, each from its own pieces and seed: P(whole) is their mean
    members = loaded.wholeness.members
    assert len(members) == loaded.metadata["wholeness"]["members"] == VERIFIERS > 1
    reduced = loaded.reduced(rows)
    assert np.allclose(loaded.whole(rows), np.mean([m.probability(reduced) for m in members],
                                                    axis=0))
    assert not np.allclose(members[0].probability(reduced), members[1].probability(reduced))


def test_a_model_trained_on_a_subset_trains_its_verifier_on_as_many_pieces_per_digit():
    from core.training import DEFAULT_RECIPE, MIN_VERIFIER_PIECES, verifier_pieces

    full = DEFAULT_RECIPE.wholeness_pieces
    assert verifier_pieces(DEFAULT_RECIPE, 60_000) == full
    assert verifier_pieces(DEFAULT_RECIPE, 30_000) == full // 2
    assert verifier_pieces(DEFAULT_RECIPE, 800) == MIN_VERIFIER_PIECES  # `--limit 800`: seconds
