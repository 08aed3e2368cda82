"""A saved model loads back as the same model; a changed or foreign artifact is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.data import load_split
from core.model import DigitModel, ModelError


@pytest.fixture()
def model_copy(small_model_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "copy" / "model.joblib"
    path.parent.mkdir()
    shutil.copy(small_model_path, path)
    shutil.copy(small_model_path.with_suffix(".json"), path.with_suffix(".json"))
    return path


def test_save_and_load_round_trip(small_model: DigitModel, data_dir: Path, tmp_path: Path) -> None:
    images, _ = load_split(data_dir, "test", limit=200)
    path = small_model.save(tmp_path / "nested" / "dir" / "model.joblib")
    loaded = DigitModel.load(path)
    before, after = small_model.predict(images), loaded.predict(images)
    np.testing.assert_array_equal(before.labels, after.labels)
    np.testing.assert_array_equal(before.confidence, after.confidence)
    metadata = json.loads(path.with_suffix(".json").read_text())
    assert metadata["sha256"] and metadata["versions"]["scikit-learn"]
    assert metadata["n_support"] == loaded.predictor.n_support
    assert metadata["training_size"] == 3000 and metadata["recipe"]["features"]["kind"] == "hog"
    assert metadata["format"] == 3 and metadata["recipe"]["kernel"] == "rbf"
    calibration = metadata["calibration"]
    assert calibration["method"] == "platt" and calibration["slope"] > 0
    assert calibration["holdout_size"] == 500 and 0.9 < calibration["holdout_accuracy"] <= 1
    assert 0 <= calibration["holdout_ece"] < 0.05
    assert not list(path.parent.glob(".*tmp"))  # no temporary file left behind


def test_the_small_model_reads_most_test_digits(small_model: DigitModel, data_dir: Path) -> None:
    images, labels = load_split(data_dir, "test", limit=1000)
    predictions = small_model.predict(images)
    assert np.mean(predictions.labels == labels) > 0.93
    np.testing.assert_array_equal(
        predictions.labels,
        small_model.estimator.predict(small_model.features(images)),
    )


def test_a_changed_artifact_is_refused(model_copy: Path) -> None:
    with open(model_copy, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match=r"model\.joblib.*SHA-256"):
        DigitModel.load(model_copy)


def test_another_scikit_learn_version_is_refused(model_copy: Path) -> None:
    meta_path = model_copy.with_suffix(".json")
    metadata = json.loads(meta_path.read_text())
    metadata["versions"]["scikit-learn"] = "0.24.2"
    meta_path.write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match=r"model\.joblib.*scikit-learn 0\.24\.2"):
        DigitModel.load(model_copy)


def test_a_model_of_the_previous_format_is_refused_with_advice(model_copy: Path) -> None:
    """Someone keeps an old models/mnist_svc.joblib: a clear message, not a crash."""
    meta_path = model_copy.with_suffix(".json")
    metadata = json.loads(meta_path.read_text())
    del metadata["format"]
    metadata["recipe"] = {"pca_components": 50, "degree": 4, "virtual_shifts": [[0, 1]]}
    meta_path.write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match=r"model\.joblib: model format 1.*retrain it"):
        DigitModel.load(model_copy)


def test_confidence_is_calibrated_on_unseen_digits(small_model: DigitModel, data_dir) -> None:
    """Among test digits read with confidence c, about c of them are right."""
    from core.calibration import expected_calibration_error

    images, labels = load_split(data_dir, "test", limit=2000)
    predictions = small_model.predict(images)
    correct = predictions.labels == labels
    assert expected_calibration_error(predictions.confidence, correct) < 0.03
    assert predictions.confidence[~correct].mean() < predictions.confidence[correct].mean() - 0.2


def test_a_missing_model_or_metadata_is_refused(model_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nowhere\.joblib: model file not found"):
        DigitModel.load(tmp_path / "nowhere.joblib")
    model_copy.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match=r"model\.json: metadata"):
        DigitModel.load(model_copy)


def test_an_empty_batch_predicts_nothing(small_model: DigitModel) -> None:
    predictions = small_model.predict(np.zeros((0, 28, 28), dtype=np.uint8))
    assert len(predictions) == 0 and predictions.labels.dtype == np.int64
