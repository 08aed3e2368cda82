"""A confidence that behaves like the probability of being right, and how to check that it does.

The predictor's raw score of a prediction is the winner's smallest one-vs-one margin (how far
it beats its closest rival). A logistic map of that score (Platt 1999) is fitted on images
held out of training, where right and wrong answers occur as they will on new images; the
two numbers are stored in the model's metadata and applied by the predictor.

Checks, on any labelled set: the expected calibration error (ECE: the mean |accuracy -
confidence| over 10 equal-width confidence bins, weighted by their share of images), the
share of all errors found by reviewing the least confident 2% of the answers, and the other
way round: how much a review must cover to find 75% of them, and the confidence to flag
below for that (a `MNISTQ_REVIEW_BELOW` chosen from a user's own labelled scans).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

ECE_BINS = 10
REVIEW_FRACTION = 0.02
REVIEW_GOAL = 0.75
"""Share of the errors a review should find (issue 12's target for a 2% review)."""
CONFIDENCE_STEP = 1e-4
"""Results carry their confidence to 4 decimals: a threshold on that grid."""


@dataclass(frozen=True)
class Calibration:
    """confidence = 1 / (1 + exp(-(slope * score + intercept)))."""

    slope: float
    intercept: float

    def apply(self, score: np.ndarray) -> np.ndarray:
        z = self.slope * np.asarray(score, dtype=np.float64) + self.intercept
        return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)  # the logistic, no overflow

    def to_dict(self) -> dict[str, Any]:
        return {"method": "platt", "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        if data.get("method") != "platt":
            raise ValueError(f"unknown calibration method {data.get('method')!r}")
        return cls(slope=float(data["slope"]), intercept=float(data["intercept"]))


UNCALIBRATED = Calibration(slope=4.0, intercept=0.0)
"""For a predictor without a fitted calibration: a fixed logistic of the margin."""


def fit_calibration(score: np.ndarray, correct: np.ndarray) -> Calibration:
    """The Platt map from held-out scores to P(right); a fixed one if all were right."""
    score = np.asarray(score, dtype=np.float64).reshape(-1, 1)
    correct = np.asarray(correct, dtype=bool)
    if correct.all() or not correct.any():
        return UNCALIBRATED
    fit = LogisticRegression(C=1e4, max_iter=1000).fit(score, correct)
    return Calibration(slope=float(fit.coef_[0, 0]), intercept=float(fit.intercept_[0]))


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Σ over equal-width bins of (share of images) x |accuracy - mean confidence|."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if len(confidence) == 0:
        return 0.0
    which = np.minimum((confidence * bins).astype(np.intp), bins - 1)
    gap = np.bincount(which, weights=correct - confidence, minlength=bins)
    return float(np.abs(gap).sum() / len(confidence))


def review_catch(
    confidence: np.ndarray, correct: np.ndarray, fraction: float = REVIEW_FRACTION
) -> float:
    """Share of the errors among the `fraction` least confident answers (1.0 if no errors)."""
    correct = np.asarray(correct, dtype=bool)
    errors = int((~correct).sum())
    if errors == 0:
        return 1.0
    reviewed = int(np.ceil(fraction * len(correct)))
    order = np.argsort(np.asarray(confidence), kind="stable")[:reviewed]
    return float((~correct[order]).sum() / errors)


def review_to_catch(
    confidence: np.ndarray, correct: np.ndarray, goal: float = REVIEW_GOAL
) -> tuple[float, float]:
    """(share reviewed, threshold): flagging the answers with confidence under the threshold
    (the smallest on the 4-decimal grid that does it) finds `goal` of the errors, and flags
    that share of all answers. (0.0, 0.0) when there is no error to find."""
    confidence = np.asarray(confidence, dtype=np.float64)
    wrong = ~np.asarray(correct, dtype=bool)
    if not wrong.any():
        return 0.0, 0.0
    wrong_confidence = np.sort(confidence[wrong])
    needed = wrong_confidence[int(np.ceil(goal * len(wrong_confidence))) - 1]
    below = min(1.0, (np.floor(needed / CONFIDENCE_STEP + 1e-6) + 1) * CONFIDENCE_STEP)
    return float((confidence < below).mean()), round(float(below), 4)


def review_lines(ece: float, catch: float, share: float, below: float, errors: int,
                 answers: str = "answers", like: str = "images") -> list[str]:
    """The calibration and review figures as `mnistq evaluate` prints them: the ECE, what a
    review of the `REVIEW_FRACTION` least confident `answers` catches and, when there are
    errors, the share to review and the `MNISTQ_REVIEW_BELOW` that catch `REVIEW_GOAL`."""
    lines = [f"calibration: ECE {ece:.2%}; reviewing the {REVIEW_FRACTION:.0%} least confident "
             f"{answers} catches {catch:.0%} of the errors"]
    if errors:
        lines.append(f"to catch {REVIEW_GOAL:.0%} of the errors, review the {share:.1%} least "
                     f"confident: MNISTQ_REVIEW_BELOW={below:g} for {like} like these")
    return lines


def review_threshold(confidence: np.ndarray, fraction: float = REVIEW_FRACTION) -> float:
    """The confidence below which `fraction` of these answers fall."""
    return float(np.quantile(np.asarray(confidence, dtype=np.float64), fraction))
