"""What a trained model is, and how it is saved and loaded safely.

A model is a fitted scikit-learn Pipeline ending in a polynomial SVC plus its metadata. On
disk: the joblib artifact and, beside it, `<name>.json` with the metadata, the artifact's
SHA-256 and the library versions. Loading refuses an artifact whose hash or scikit-learn
version differs from its metadata: unpickling a model from another scikit-learn version can
silently predict differently, and a changed file is not the model that was evaluated.
"""

from __future__ import annotations

import hashlib
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

from core.features import to_features
from core.predictor import FastPredictor, Predictions


class ModelError(Exception):
    """A model file that is missing, changed, unreadable or from another scikit-learn."""


def library_versions() -> dict[str, str]:
    return {
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def metadata_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class DigitModel:
    """A fitted Pipeline([..., SVC(kernel='poly')]) with its metadata and fast predictor."""

    def __init__(self, estimator: Pipeline, metadata: dict[str, Any] | None = None) -> None:
        self.estimator = estimator
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.predictor = FastPredictor.from_pipeline(estimator)

    def predict(self, images: np.ndarray) -> Predictions:
        """uint8 images (n, 28, 28) → labels, confidence and runner-up (labels = SVC.predict)."""
        return self.predictor.predict(to_features(images))

    def save(self, path: Path) -> Path:
        """Write the artifact and its `.json` metadata (with SHA-256) atomically; returns path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, lambda tmp: joblib.dump(self.estimator, tmp))
        self.metadata.update(
            artifact=path.name, sha256=file_sha256(path), versions=library_versions()
        )
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
            estimator = joblib.load(path)
            return cls(estimator, metadata)
        except Exception as exc:  # unpickling can raise anything
            kind = type(exc).__name__
            raise ModelError(f"{path}: cannot load the model ({kind}: {exc})") from None
