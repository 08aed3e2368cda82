"""What a trained model is, and how it is saved and loaded safely.

A model is a fitted scikit-learn Pipeline ending in an SVC plus its metadata: the recipe
(which says how images become features), the confidence calibration and the figures measured
when it was trained. On disk: the joblib artifact (the Pipeline and, when it has one, the
whole-digit verifier: everything that computes a reading is under the artifact's SHA-256,
which names the version) and, beside it, `<name>.json` with the metadata, that SHA-256 and the
library versions. Loading refuses an artifact whose
format, hash or scikit-learn version differs from its metadata: unpickling a model from
another scikit-learn version can silently predict differently, a changed file is not the
model that was evaluated, and a model of an older format would be fed the wrong features.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy
import sklearn
from sklearn.pipeline import Pipeline

from core.calibration import UNCALIBRATED, Calibration
from core.features import FeatureSpec, to_features
from core.metadata import file_sha256, metadata_path
from core.predictor import FastPredictor, Predictions
from core.wholeness import Verifiers, Wholeness

MODEL_FORMAT = 3
"""Version of the model files' layout: 2 = features and calibration named in the metadata
(the verifier's weights in it too); 3 = the verifier in the artifact beside the Pipeline."""
FORMATS_READ = (2, MODEL_FORMAT)


class ModelError(Exception):
    """A model file that is missing, changed, unreadable or from another scikit-learn."""


def library_versions() -> dict[str, str]:
    return {
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class DigitModel:
    """A fitted Pipeline([..., SVC]) with its metadata and fast predictor.

    `metadata["recipe"]["features"]` says how images become features and
    `metadata["calibration"]` (if any) maps margins to confidences.
    """

    def __init__(self, estimator: Pipeline, metadata: dict[str, Any],
                 wholeness: Wholeness | Verifiers | None = None) -> None:
        self.estimator = estimator
        self.metadata: dict[str, Any] = dict(metadata)
        self.feature_spec = FeatureSpec.from_dict(self.metadata["recipe"]["features"])
        fitted = self.metadata.get("calibration")
        self.calibration = Calibration.from_dict(fitted) if fitted else UNCALIBRATED
        self.predictor = FastPredictor.from_pipeline(estimator, calibration=self.calibration)
        self.wholeness = wholeness

    def reduced(self, features: np.ndarray) -> np.ndarray:
        """Feature rows after the model's preprocessing (its PCA): the wholeness verifier's."""
        return self.predictor.transform(features)

    def whole(self, features: np.ndarray) -> np.ndarray | None:
        """P(one whole digit) per feature row (`core.wholeness`), or None for a model
        trained without the verifier."""
        if self.wholeness is None:
            return None
        return self.wholeness.probability(self.reduced(features))

    def features(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (n, 28, 28) → the feature rows this model was trained on."""
        return to_features(images, self.feature_spec)

    def predict(self, images: np.ndarray) -> Predictions:
        """uint8 images (n, 28, 28) → labels, confidence and runner-up (labels = SVC.predict)."""
        return self.predictor.predict(self.features(images))

    def save(self, path: Path) -> Path:
        """Write the artifact and its `.json` metadata (with SHA-256) atomically; returns path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        artifact = {"estimator": self.estimator, "wholeness": self.wholeness}
        _write_atomically(path, lambda tmp: joblib.dump(artifact, tmp))
        self.metadata.update(format=MODEL_FORMAT, artifact=path.name, sha256=file_sha256(path),
                             versions=library_versions())
        text = json.dumps(self.metadata, indent=2, sort_keys=True) + "\n"
        _write_atomically(metadata_path(path), lambda tmp: tmp.write_text(text))
        return path

    @classmethod
    def load(cls, path: Path) -> DigitModel:
        """Load a saved model, refusing a missing, changed or version-mismatched artifact."""
        path = Path(path)
        meta_path = metadata_path(path)
        if not path.is_file():
            raise ModelError(f"{path}: model file not found (train one with `mnistq train`)")
        if not meta_path.is_file():
            raise ModelError(f"{meta_path}: metadata file of the model not found")
        try:
            metadata = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{meta_path}: unreadable metadata ({exc})") from None
        if not isinstance(metadata, dict):
            raise ModelError(f"{meta_path}: metadata is not a JSON object")
        if metadata.get("format") not in FORMATS_READ:
            raise ModelError(
                f"{path}: model format {metadata.get('format', 1)}, this mnistq reads formats "
                f"{FORMATS_READ[0]}-{MODEL_FORMAT} (other features and confidence); retrain it "
                "with `mnistq train`"
            )
        digest = file_sha256(path)
        if digest != metadata.get("sha256"):
            raise ModelError(
                f"{path}: SHA-256 {digest} does not match {metadata.get('sha256')} "
                f"in {meta_path.name}; the file was changed or is not this model"
            )
        saved = (metadata.get("versions") or {}).get("scikit-learn")
        if saved != sklearn.__version__:
            raise ModelError(
                f"{path}: trained with scikit-learn {saved}, this is {sklearn.__version__}; "
                "retrain it with `mnistq train` or install the matching version"
            )
        try:
            artifact = joblib.load(path)
            if metadata["format"] == 2:  # the Pipeline alone; the verifier in the metadata
                verifier = metadata.get("wholeness")
                return cls(artifact, metadata, Wholeness.from_dict(verifier) if verifier else None)
            return cls(artifact["estimator"], metadata, artifact["wholeness"])
        except Exception as exc:  # unpickling can raise anything
            kind = type(exc).__name__
            raise ModelError(f"{path}: cannot load the model ({kind}: {exc})") from None
