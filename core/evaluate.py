"""How good a model is on labelled images: accuracy, per-class precision and recall, confusion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from core.model import DigitModel

CLASSES = tuple(range(10))


@dataclass(frozen=True)
class EvaluationReport:
    """Scores of one model on one labelled set; fractions in [0, 1]."""

    accuracy: float
    n_images: int
    precision: list[float]
    recall: list[float]
    confusion: list[list[int]]
    """confusion[true][predicted]"""

    @property
    def errors(self) -> int:
        return self.n_images - int(np.trace(np.asarray(self.confusion)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "n_images": self.n_images,
            "errors": self.errors,
            "classes": list(CLASSES),
            "precision": self.precision,
            "recall": self.recall,
            "confusion": self.confusion,
        }

    def to_text(self) -> str:
        lines = [
            f"accuracy: {self.accuracy:.2%} ({self.errors} errors in {self.n_images:,} images)",
            "",
            "class  precision  recall",
        ]
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


def evaluate(model: DigitModel, images: np.ndarray, labels: np.ndarray) -> EvaluationReport:
    """Predict uint8 images (n, 28, 28) and score them against their labels."""
    labels = np.asarray(labels).astype(np.int64)
    predicted = model.predict(images).labels
    precision, recall, _, _ = precision_recall_fscore_support(
        labels, predicted, labels=CLASSES, zero_division=0
    )
    return EvaluationReport(
        accuracy=float(accuracy_score(labels, predicted)),
        n_images=len(labels),
        precision=[float(v) for v in precision],
        recall=[float(v) for v in recall],
        confusion=confusion_matrix(labels, predicted, labels=CLASSES).tolist(),
    )
