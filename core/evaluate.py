"""How good a model is on labelled images: accuracy, calibration, per-class scores, confusion.

Two sources: the MNIST test arrays (`evaluate`), and any labelled folder read through the
service's whole pipeline, bytes in (`evaluate_files`). An image that gets a per-file error
counts as wrong, with confidence 0: the user sees it flagged, as with a low confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from core.calibration import (
    expected_calibration_error,
    review_catch,
    review_lines,
    review_to_catch,
)
from core.imaging import ImageLimits
from core.labelled_set import LabelledImage
from core.model import DigitModel
from core.pipeline import predict_files

CLASSES = tuple(range(10))
FAILED = -1
"""The predicted label of an image that got a per-file error."""
FILE_BATCH = 1024
"""Files read and predicted together by `evaluate_files`."""


@dataclass(frozen=True)
class EvaluationReport:
    """Scores of one model on one labelled set; fractions in [0, 1]."""

    accuracy: float
    n_images: int
    precision: list[float]
    recall: list[float]
    confusion: list[list[int]]
    """confusion[true][predicted], images read without error"""
    ece: float
    """Expected calibration error, 10 equal-width bins."""
    review_2pct_catch: float
    """Share of the errors among the 2% least confident answers."""
    review_75pct_share: float = 0.0
    """Share of the answers a review must cover, least confident first, to find 75% of the
    errors..."""
    review_75pct_below: float = 0.0
    """...flagging those with a confidence under this: a `MNISTQ_REVIEW_BELOW` for such images."""
    failed: int = 0
    """Images that got a per-file error (counted wrong)."""
    by_kind: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.n_images - int(np.trace(np.asarray(self.confusion)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "n_images": self.n_images,
            "errors": self.errors,
            "failed": self.failed,
            "ece": self.ece,
            "review_2pct_catch": self.review_2pct_catch,
            "review_75pct_share": self.review_75pct_share,
            "review_75pct_below": self.review_75pct_below,
            "by_kind": self.by_kind,
            "classes": list(CLASSES),
            "precision": self.precision,
            "recall": self.recall,
            "confusion": self.confusion,
        }

    def to_text(self) -> str:
        lines = [
            f"accuracy: {self.accuracy:.2%} ({self.errors} errors in {self.n_images:,} images"
            + (f", {self.failed} of them per-file errors)" if self.failed else ")"),
            *review_lines(self.ece, self.review_2pct_catch, self.review_75pct_share,
                          self.review_75pct_below, self.errors),
        ]
        if self.by_kind:
            lines += ["", f"{'kind':<20}{'images':>8}{'accuracy':>10}{'failed':>8}"]
            lines += [
                f"{kind:<20}{k['n_images']:>8,}{k['accuracy']:>10.2%}{k['failed']:>8}"
                for kind, k in self.by_kind.items()
            ]
        lines += ["", "class  precision  recall"]
        lines += [
            f"{c:>5}  {p:>9.2%}  {r:>6.2%}"
            for c, p, r in zip(CLASSES, self.precision, self.recall, strict=True)
        ]
        lines += ["", "confusion (rows: true, columns: predicted)"]
        lines.append("     " + "".join(f"{c:>6}" for c in CLASSES))
        lines += [
            f"{c:>5}" + "".join(f"{v:>6}" for v in row)
            for c, row in zip(CLASSES, self.confusion, strict=True)
        ]
        return "\n".join(lines)


def score(
    labels: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    kinds: Sequence[str] | None = None,
) -> EvaluationReport:
    """The report of predictions against true labels; `predicted` FAILED marks a file error."""
    labels = np.asarray(labels).astype(np.int64)
    predicted = np.asarray(predicted).astype(np.int64)
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = predicted == labels
    review_share, review_below = review_to_catch(confidence, correct)
    precision, recall, _, _ = precision_recall_fscore_support(
        labels, predicted, labels=CLASSES, zero_division=0
    )
    by_kind: dict[str, dict[str, Any]] = {}
    if kinds is not None:
        kinds_array = np.asarray(kinds)
        for kind in dict.fromkeys(kinds):  # in order of first appearance
            mine = kinds_array == kind
            by_kind[kind] = {
                "accuracy": float(correct[mine].mean()),
                "n_images": int(mine.sum()),
                "failed": int((predicted[mine] == FAILED).sum()),
            }
    return EvaluationReport(
        accuracy=float(accuracy_score(labels, predicted)),
        n_images=len(labels),
        precision=[float(v) for v in precision],
        recall=[float(v) for v in recall],
        confusion=confusion_matrix(labels, predicted, labels=CLASSES).tolist(),
        ece=expected_calibration_error(confidence, correct),
        review_2pct_catch=review_catch(confidence, correct),
        review_75pct_share=review_share,
        review_75pct_below=review_below,
        failed=int((predicted == FAILED).sum()),
        by_kind=by_kind,
    )


def evaluate(model: DigitModel, images: np.ndarray, labels: np.ndarray) -> EvaluationReport:
    """Predict uint8 images (n, 28, 28) and score them against their labels."""
    predictions = model.predict(images)
    return score(labels, predictions.labels, predictions.confidence)


def evaluate_files(
    model: DigitModel, images: Sequence[LabelledImage], limits: ImageLimits
) -> EvaluationReport:
    """Read each file and predict it through `core.pipeline.predict_files`, as the service does."""
    predicted = np.full(len(images), FAILED, dtype=np.int64)
    confidence = np.zeros(len(images), dtype=np.float64)
    for start in range(0, len(images), FILE_BATCH):
        batch = images[start:start + FILE_BATCH]
        items = [(start + i, image.filename, image.path.read_bytes())
                 for i, image in enumerate(batch)
                 if image.path.stat().st_size <= limits.max_bytes]  # larger: failed, as uploads
        for result in predict_files(model, items, limits):
            if result.error is None:
                predicted[result.index] = result.prediction
                confidence[result.index] = result.confidence
    return score(
        np.array([image.label for image in images]), predicted, confidence,
        kinds=[image.kind for image in images],
    )
