"""Fast batch prediction for a fitted `Pipeline([... , SVC(kernel="poly" or "rbf")])`, same labels.

`SVC.predict` evaluates libsvm's kernel one image and one support vector at a time in float64.
Here a block of images goes through the pipeline's linear steps as one float32 matrix
product, the kernel against each class's support vectors is one float32 GEMM (polynomial:
`(g x.sv + coef0)^degree`; RBF: `exp(2g x.sv - g|sv|^2 - g|x|^2)`) plus one elementwise pass, and
the one-vs-one decisions follow from each class's 9 dual coefficients per support vector
(libsvm stores, for a support vector of class k, its coefficient against every other class
in `dual_coef_[:, sv]`). Votes then follow libsvm: for the pair i < j, i gets the vote when
the decision is > 0, else j; the first class with the most votes wins.

float32 rounding can only change a label when a decision is close to 0, and then only if
flipping it could change the winner; such rows (a decision within `tie_margin` of 0 and the
vote count not settled without it) are recomputed in float64 through sklearn's own
transformers, so the labels equal `pipeline.predict` exactly.

Confidence and runner-up come from the winner's one-vs-one decisions: the runner-up is the
class the winner beats by the smallest margin (or loses to by the largest), and the
confidence is the model's calibration (core/calibration.py) applied to that margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from core.calibration import UNCALIBRATED, Calibration

ROW_BLOCK = 256
"""Images per block: the kernel block of one class (256 x ~3,500 SVs float32) stays in cache."""
TIE_MARGIN = 5e-2
"""|decision| within which float32 is not trusted: its error stayed below 1.2e-3 on our models."""
KERNELS = ("poly", "rbf")


@dataclass(frozen=True)
class Predictions:
    """Per image: the label, a confidence in [0, 1] and the runner-up label."""

    labels: np.ndarray
    """int64 (n,)"""
    confidence: np.ndarray
    """float32 (n,)"""
    runner_up: np.ndarray
    """int64 (n,)"""
    margin: np.ndarray
    """float64 (n,): the winner's smallest one-vs-one margin, the score the confidence maps."""

    def __len__(self) -> int:
        return len(self.labels)


def _int_power(values: np.ndarray, degree: int, scratch: np.ndarray | None = None) -> np.ndarray:
    """values ** degree by repeated squaring in place (at most one extra buffer, `scratch`).

    2 passes for degree 4, 3 for degree 5: much faster than np.power's powf per element.
    """
    if degree < 1:
        return np.ones_like(values)
    result = None
    base = values
    while True:
        if degree & 1:
            if result is None:
                result = base
            else:
                np.multiply(result, base, out=result)
        degree >>= 1
        if not degree:
            return result
        if result is base:
            base = np.multiply(base, base, out=scratch)
        else:
            np.multiply(base, base, out=base)


class FastPredictor:
    """Dense float32 prediction equal to `pipeline.predict`; build with `from_pipeline`."""

    def __init__(
        self,
        pipeline: Pipeline,
        tie_margin: float = TIE_MARGIN,
        calibration: Calibration = UNCALIBRATED,
    ) -> None:
        svc = pipeline[-1]
        if not isinstance(svc, SVC) or svc.kernel not in KERNELS:
            raise TypeError("the pipeline must end in SVC(kernel='poly' or 'rbf')")
        if svc.decision_function_shape not in ("ovo", "ovr") or len(svc.classes_) < 3:
            raise TypeError("expected a multi-class SVC")
        self.pipeline = pipeline
        self.tie_margin = float(tie_margin)
        self.calibration = calibration
        self.kernel = svc.kernel
        self.classes = np.asarray(svc.classes_)
        self.degree = int(svc.degree)
        self.coef0 = float(svc.coef0)
        self.gamma = float(svc._gamma)  # 'scale' resolved at fit time; libsvm uses this value
        self._prefix = pipeline[:-1] if len(pipeline) > 1 else None
        self._linear = self._linear_steps(pipeline)
        k = len(self.classes)
        ends = np.cumsum(svc.n_support_)
        self._blocks = list(zip(np.r_[0, ends[:-1]], ends, strict=True))
        sv = np.asarray(svc.support_vectors_, dtype=np.float64)
        dual = np.asarray(svc.dual_coef_, dtype=np.float64)  # (k - 1, n_SV)
        if self.kernel == "poly":  # [gx, 1] . [sv, coef0] = g x.sv + coef0
            sv = np.hstack([sv, np.full((len(sv), 1), self.coef0)])
        else:  # [x, 1] . [2g sv, -g|sv|^2] = 2g x.sv - g|sv|^2
            sv = np.hstack([2.0 * self.gamma * sv, -self.gamma * (sv * sv).sum(1, keepdims=True)])
        self._sv64 = [np.ascontiguousarray(sv[a:b]) for a, b in self._blocks]
        self._sv32 = [np.ascontiguousarray(s, dtype=np.float32) for s in self._sv64]
        self._dual64 = [np.ascontiguousarray(dual[:, a:b].T) for a, b in self._blocks]
        self._dual32 = [d.astype(np.float32) for d in self._dual64]
        self._intercept = np.asarray(svc.intercept_, dtype=np.float64)
        # Pairs (i, j), i < j, in libsvm's order; class k's column r faces class r (+1 if r >= k).
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        self._pair_i = np.array([i for i, _ in pairs])
        self._pair_j = np.array([j for _, j in pairs])
        self._from_i = np.array([i * (k - 1) + (j - 1) for i, j in pairs])
        self._from_j = np.array([j * (k - 1) + i for i, j in pairs])
        self._votes_i = np.eye(k, dtype=np.float32)[self._pair_i]  # (n_pairs, k) one-hot
        self._votes_j = np.eye(k, dtype=np.float32)[self._pair_j]

    @classmethod
    def from_pipeline(
        cls,
        pipeline: Pipeline,
        tie_margin: float = TIE_MARGIN,
        calibration: Calibration = UNCALIBRATED,
    ) -> FastPredictor:
        return cls(pipeline, tie_margin, calibration)

    @property
    def n_support(self) -> int:
        return sum(len(s) for s in self._sv32)

    @staticmethod
    def _linear_steps(pipeline: Pipeline) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Each preprocessing step as float32 (W, b) with x -> x @ W + b, or None if one is not."""
        steps = []
        for _, step in pipeline.steps[:-1]:
            if step is None or step == "passthrough":
                continue
            if isinstance(step, PCA) and not step.whiten:
                w = np.asarray(step.components_, dtype=np.float64).T
                b = -np.asarray(step.mean_, dtype=np.float64) @ w
                steps.append((w.astype(np.float32), b.astype(np.float32)))
            else:
                return None
        return steps

    def _transform32(self, x: np.ndarray) -> np.ndarray:
        if self._linear is None:
            return np.asarray(self._prefix.transform(x), dtype=np.float32)
        for w, b in self._linear:
            x = x @ w
            x += b
        return x

    def _decisions(
        self, x: np.ndarray, sv: list[np.ndarray], dual: list[np.ndarray]
    ) -> np.ndarray:
        """One-vs-one decisions (n, n_pairs) of transformed rows, in the dtype of `x`.

        The constant terms ride in the GEMM as an extra column (see `__init__`), and two
        reused buffers hold each class's kernel block, so the hot loop allocates nothing.
        """
        n, d = x.shape
        k = len(self.classes)
        augmented = np.empty((n, d + 1), dtype=x.dtype)
        if self.kernel == "poly":
            np.multiply(x, x.dtype.type(self.gamma), out=augmented[:, :d])
        else:
            augmented[:, :d] = x
            own_norm = (-self.gamma * np.einsum("ij,ij->i", x, x, dtype=np.float64))[:, None]
            own_norm = own_norm.astype(x.dtype)
        augmented[:, d] = 1.0
        size = n * max(len(s) for s in sv)
        kernel_buffer, scratch_buffer = np.empty(size, x.dtype), np.empty(size, x.dtype)
        stacked = np.empty((n, k * (k - 1)), dtype=x.dtype)
        for c, (support, coef) in enumerate(zip(sv, dual, strict=True)):
            m = len(support)
            kernel = np.matmul(augmented, support.T, out=kernel_buffer[:n * m].reshape(n, m))
            scratch = scratch_buffer[:n * m].reshape(n, m)
            if self.kernel == "poly":
                kernel = _int_power(kernel, self.degree, scratch)
            else:
                kernel += own_norm
                np.exp(kernel, out=kernel)
            stacked[:, c * (k - 1):(c + 1) * (k - 1)] = kernel @ coef
        return stacked[:, self._from_i] + stacked[:, self._from_j] + self._intercept.astype(x.dtype)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """float32 rows after the pipeline's preprocessing steps (its PCA), as predict sees them."""
        return self._transform32(np.asarray(features, dtype=np.float32))

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """float32 one-vs-one decisions, as `SVC.decision_function` with shape 'ovo'."""
        x = self._transform32(np.asarray(features, dtype=np.float32))
        return self._decisions(x, self._sv32, self._dual32)

    def _exact_decisions(self, features: np.ndarray) -> np.ndarray:
        """float64 decisions of rows transformed by sklearn itself, as `pipeline.predict` does."""
        x = features if self._prefix is None else self._prefix.transform(features)
        return self._decisions(np.asarray(x, dtype=np.float64), self._sv64, self._dual64)

    def _votes(self, wins_i: np.ndarray, wins_j: np.ndarray) -> np.ndarray:
        """Votes per class (n, k) from 0/1 float32 masks of the pairs each side wins."""
        return wins_i @ self._votes_i + wins_j @ self._votes_j

    def _unsure(self, dec: np.ndarray) -> np.ndarray:
        """Rows whose winner could change if any decision within `tie_margin` of 0 flipped."""
        won_i = (dec >= self.tie_margin).astype(np.float32)
        won_j = (dec <= -self.tie_margin).astype(np.float32)
        low = self._votes(won_i, won_j)
        high = low + self._votes(1.0 - won_i - won_j, 1.0 - won_i - won_j)
        winner = low.argmax(axis=1)
        rows = np.arange(len(dec))
        later = np.arange(low.shape[1])[None, :] > winner[:, None]  # ties go to the first class
        best = low[rows, winner][:, None]
        beaten = np.where(later, high <= best, high < best)
        beaten[rows, winner] = True
        return ~beaten.all(axis=1)

    def _block(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dec = self.decision_function(features).astype(np.float64)
        unsure = self._unsure(dec)
        if unsure.any():
            dec[unsure] = self._exact_decisions(features[unsure])
        n = len(dec)
        wins_i = (dec > 0).astype(np.float32)
        winner = self._votes(wins_i, 1.0 - wins_i).argmax(axis=1)  # first maximum, as libsvm
        k = len(self.classes)
        margins = np.full((n, k, k), np.inf)  # margins[:, a, b]: how far a beats b
        margins[:, self._pair_i, self._pair_j] = dec
        margins[:, self._pair_j, self._pair_i] = -dec
        own = margins[np.arange(n), winner]
        runner = own.argmin(axis=1)
        margin = own[np.arange(n), runner]
        return winner, margin, runner

    def predict(self, features: np.ndarray) -> Predictions:
        """Labels (equal to `pipeline.predict`), confidence and runner-up of feature rows."""
        features = np.asarray(features, dtype=np.float32)
        parts = [self._block(features[s:s + ROW_BLOCK]) for s in range(0, len(features), ROW_BLOCK)]
        if not parts:
            empty = np.empty(0, dtype=np.int64)
            return Predictions(empty, np.empty(0, dtype=np.float32), empty.copy(),
                               np.empty(0, dtype=np.float64))
        winner, margin, runner = (np.concatenate(p) for p in zip(*parts, strict=True))
        return Predictions(
            labels=self.classes[winner].astype(np.int64),
            confidence=self.calibration.apply(margin),
            runner_up=self.classes[runner].astype(np.int64),
            margin=margin,
        )
