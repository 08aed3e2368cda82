"""How the model is trained: features → PCA → SVC, then a confidence calibration.

Two families of recipes, chosen by measurement (docs/model.md):
- the default: gradient-orientation histograms of the deskewed digit (core/hog.py), square
  root, PCA to 100 dimensions, RBF SVC;
- the seed's (and the previous default's): deskewed pixels, polynomial SVC, optionally with
  virtual support vectors (Schoelkopf, Burges and Vapnik 1996; DeCoste and Schoelkopf 2002):
  train once, keep only the support vectors, add their copies shifted by a pixel, train again.

The confidence calibration (core/calibration.py) is fitted on images the model did not learn
from: a first model is trained without the last `calibration_holdout` share of the training
images and scores them; the final model is then trained on all of them and keeps that map.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from core.augment import jittered_copies, low_resolution_copies, other_hand_copies
from core.calibration import (
    Calibration,
    expected_calibration_error,
    fit_calibration,
    review_catch,
)
from core.features import HOG, PIXELS, FeatureSpec, to_features
from core.hog import HogSpec
from core.model import MODEL_FORMAT, DigitModel, library_versions
from core.predictor import FastPredictor
from core.wholeness import PIECES, add_wholeness

Progress = Callable[[str], None]

EIGHT_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
FOUR_NEIGHBOURS = ((-1, 0), (0, -1), (0, 1), (1, 0))


@dataclass(frozen=True)
class Recipe:
    """Every hyper-parameter of a model; stored in its metadata."""

    features: FeatureSpec = field(default_factory=lambda: HOG)
    pca_components: int | None = 100
    """Project the feature rows onto this many principal components (None: keep them)."""
    kernel: str = "rbf"
    """'rbf' or 'poly'."""
    degree: int = 4
    """Degree of the final polynomial kernel (kernel 'poly')."""
    C: float = 5.0
    coef0: float = 1.0
    gamma: float | str = "scale"
    gamma_factor: float = 1.0
    """Multiplies gamma='scale' (1 / (dimensions x variance of the SVC's input)): a narrower
    RBF kernel when above 1."""
    virtual_shifts: tuple[tuple[int, int], ...] = ()
    """(rows, cols) pixel shifts of the support vectors for a second fit (pixel features only)."""
    first_degree: int | None = None
    """Kernel degree of the first fit when virtual SVs are used (None: `degree`)."""
    pca_sample: int | None = 20_000
    """Fit the PCA on about this many evenly spaced training rows (None: all): as good, faster."""
    lowres_share: float = 0.0
    """Share of the training images that also get a low-resolution copy (core/augment.py)."""
    hand_share: float = 0.0
    """Share of the training images that also get a copy in another hand: elastically
    distorted, finer or bolder pen, blurred (core/augment.py)."""
    calibration_holdout: float = 1 / 6
    """Share of the training images held out to fit the confidence calibration (0: none)."""
    extra_weight: float = 10.0
    """SVC sample weight of each extra digit (`train_model`'s `extra`: corrections); an MNIST
    image weighs 1. It lets a few hundred corrections move a model trained on 60,000."""
    extra_copies: int = 0
    """Jittered copies of each extra digit trained on beside it (core/augment.py), at the
    same weight."""
    cache_mb: int = 1000
    """libsvm kernel cache: speeds up training, not the model."""
    random_state: int = 0
    wholeness_pieces: int = 0
    """Pieces cut from rows of training digits to train the number reader's whole-digit
    verifier on (core/wholeness.py; 0: no verifier), with all MNIST training digits
    (`verifier_pieces`)."""

    def __post_init__(self) -> None:
        if self.virtual_shifts and self.features.kind != "pixels":
            raise ValueError("virtual support vectors need pixel features")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = self.features.to_dict()
        data["virtual_shifts"] = [list(s) for s in self.virtual_shifts]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["features"] = FeatureSpec.from_dict(data["features"])
        values["virtual_shifts"] = tuple(tuple(s) for s in data.get("virtual_shifts", ()))
        return cls(**values)


MNIST_TRAINING_IMAGES = 60_000
MIN_VERIFIER_PIECES = 2_000
"""Fewest pieces for a verifier trained with a subset (a few seconds: about 1% of them)."""

SOFT_BINS_RECIPE = Recipe(
    features=FeatureSpec(kind="hog", hog=HogSpec(soft=True)), lowres_share=1 / 6,
    wholeness_pieces=PIECES,
)
"""The previous default (99.46%): HOG (18 signed soft bins, 4- and 7-px cells, each vote in
its own cell), square root, PCA-100, RBF SVC C=5, plus low-resolution copies of a sixth of
the training images (docs/model.md), and the number reader's whole-digit verifier
(docs/numbers.md)."""
SPATIAL_RECIPE = replace(
    SOFT_BINS_RECIPE, features=FeatureSpec(kind="hog", hog=HogSpec(soft=True, spatial=True))
)
"""The previous default with each vote shared between the 2x2 nearest cells: 10 and 13 fewer
validation errors on two splits, 13% fewer support vectors, 99.45% on the test set
(docs/model.md)."""
DEFAULT_RECIPE = replace(SPATIAL_RECIPE, gamma_factor=1.5)
"""HOG with each vote shared between its two nearest orientation bins and its 2x2 nearest
cells, square root, PCA-100, RBF SVC C=5 with 1.5 x the 'scale' gamma, low-resolution copies
and the whole-digit verifier: the best validation trial, 99.53% (docs/model.md)."""
NARROW_RECIPE = replace(SOFT_BINS_RECIPE, gamma_factor=1.5)
"""The previous default with 1.5 x the 'scale' gamma: 3 fewer validation errors, 2 fewer
test errors, 23% more support vectors (tried, not taken: docs/model.md)."""
HANDS_RECIPE = replace(SOFT_BINS_RECIPE, hand_share=1 / 6)
"""The previous default plus other-hand copies of a sixth of the training images (tried, not
taken: docs/model.md)."""
HARD_BINS_RECIPE = Recipe()
"""The issue's trial: as the default, but hard orientation bins and no low-resolution copies."""
SEED_RECIPE = Recipe(features=PIXELS, pca_components=None, kernel="poly", degree=4, C=1.0)
"""The original app's model: deskewed pixels, SVC poly-4 (C=1, coef0=1, gamma='scale')."""
VIRTUAL_SV_RECIPE = Recipe(
    features=PIXELS, pca_components=50, kernel="poly", degree=4, C=1.0,
    virtual_shifts=FOUR_NEIGHBOURS,
)
"""An earlier default: PCA-50 poly-4 with 4-shift virtual SVs, 99.14%."""
SMALL_RECIPE = Recipe(
    features=FeatureSpec(kind="hog", hog=HogSpec(soft=True, spatial=True)), pca_components=50
)
"""For tests: 3,000 images train in a few seconds."""


def shift_images(images: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """A stack (n, h, w) moved by (dr, dc) pixels, zero-filled (no wrap-around)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dr, 0):h + min(dr, 0), max(dc, 0):w + min(dc, 0)] = images[
        :, max(-dr, 0):h + min(-dr, 0), max(-dc, 0):w + min(-dc, 0)
    ]
    return out


def _svc(recipe: Recipe, degree: int, x: np.ndarray) -> SVC:
    gamma = recipe.gamma
    if gamma == "scale" and recipe.gamma_factor != 1.0:  # as scikit-learn's 'scale', scaled
        gamma = recipe.gamma_factor / (x.shape[1] * float(np.asarray(x, np.float64).var()))
    return SVC(
        kernel=recipe.kernel, degree=degree, C=recipe.C, coef0=recipe.coef0, gamma=gamma,
        decision_function_shape="ovo", cache_size=recipe.cache_mb,
    )


def _virtual_set(
    features: np.ndarray, labels: np.ndarray, support: np.ndarray, shifts: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """The support vectors' deskewed images plus each of their shifted copies, as features."""
    images = features[support].reshape(-1, 28, 28)
    stack = [images] + [shift_images(images, dr, dc) for dr, dc in shifts]
    virtual = np.concatenate(stack).reshape(-1, 28 * 28)
    return virtual, np.tile(labels[support], len(stack))


def fit_pipeline(
    features: np.ndarray, labels: np.ndarray, recipe: Recipe, progress: Progress,
    weights: np.ndarray | None = None,
) -> Pipeline:
    """The fitted Pipeline([pca,] svc) on feature rows, each row weighing `weights` (None:
    all 1) in the SVC."""
    steps = []
    x = features
    if recipe.pca_components:
        pca = PCA(recipe.pca_components, random_state=recipe.random_state)
        step = max(1, -(-len(features) // recipe.pca_sample)) if recipe.pca_sample else 1
        sample = features[::step]
        progress(f"PCA to {recipe.pca_components} components, fitted on {len(sample):,} images")
        x = pca.fit(sample).transform(features)
        steps.append(("pca", pca))
    first = recipe.first_degree or recipe.degree
    svc = _svc(recipe, first if recipe.virtual_shifts else recipe.degree, x)
    name = f"poly-{svc.degree}" if recipe.kernel == "poly" else f"{recipe.kernel}, C={recipe.C:g}"
    progress(f"SVC {name} on {len(x):,} images")
    svc.fit(x, labels, sample_weight=weights)
    progress(f"  {int(svc.n_support_.sum()):,} support vectors")
    if recipe.virtual_shifts:
        vx, vy = _virtual_set(features, labels, svc.support_, recipe.virtual_shifts)
        if weights is not None:  # each copy weighs as its support vector
            weights = np.tile(weights[svc.support_], 1 + len(recipe.virtual_shifts))
        if recipe.pca_components:
            vx = steps[0][1].transform(vx)
        svc = _svc(recipe, recipe.degree, vx)
        progress(
            f"SVC poly-{recipe.degree} on {len(vx):,} virtual examples "
            f"(support vectors and {len(recipe.virtual_shifts)} shifts)"
        )
        svc.fit(vx, vy, sample_weight=weights)
        progress(f"  {int(svc.n_support_.sum()):,} support vectors")
    steps.append(("svc", svc))
    return Pipeline(steps)


def _calibrate(
    features: np.ndarray, labels: np.ndarray, origin: np.ndarray, recipe: Recipe,
    progress: Progress, weights: np.ndarray | None = None,
) -> tuple[Calibration, dict[str, Any]]:
    """Fit a model without the held-out tail, score the tail, fit the confidence map on it.

    `origin` gives each row's training image (copies share their original's): a copy is
    held out with its original, so the calibration also sees low-resolution digits. Extra
    digits have origin -1: always learnt from, never scored (the map is MNIST's).
    """
    n_images = int(origin.max()) + 1
    held = round(n_images * recipe.calibration_holdout)
    if held < 50 or held > n_images // 2:
        raise ValueError(f"calibration holdout of {held} images out of {n_images}: too few")
    learn = origin < n_images - held
    progress(f"calibration: a model on {learn.sum():,} rows to score {(~learn).sum():,} "
             "held-out ones")
    pipeline = fit_pipeline(features[learn], labels[learn], recipe, progress,
                            None if weights is None else weights[learn])
    raw = FastPredictor.from_pipeline(pipeline).predict(features[~learn])
    correct = raw.labels == labels[~learn]
    calibration = fit_calibration(raw.margin, correct)
    confidence = calibration.apply(raw.margin)
    figures = {
        **calibration.to_dict(),
        "holdout_size": int((~learn).sum()),
        "holdout_accuracy": float(correct.mean()),
        "holdout_ece": expected_calibration_error(confidence, correct),
        "holdout_review_2pct_catch": review_catch(confidence, correct),
    }
    progress(
        f"  held-out accuracy {figures['holdout_accuracy']:.2%}, calibrated ECE "
        f"{figures['holdout_ece']:.2%}, "
        f"2% review catches {figures['holdout_review_2pct_catch']:.0%}"
    )
    return calibration, figures


def _with_copies(
    images: np.ndarray, labels: np.ndarray, recipe: Recipe, progress: Progress
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, labels and origin index, with the recipe's low-resolution copies of every k-th
    image and its other-hand copies of every j-th (each kind seeded on its own)."""
    origin = np.arange(len(images))
    rows, row_labels, origins = [images], [labels], [origin]
    kinds = (("low-resolution", recipe.lowres_share, low_resolution_copies),
             ("other-hand", recipe.hand_share, other_hand_copies))
    for name, share, make in kinds:
        if not share:
            continue
        chosen = origin[:: max(1, round(1 / share))]
        progress(f"{name} copies of {len(chosen):,} images")
        copies, copy_labels, kept = make(images[chosen], labels[chosen], seed=recipe.random_state)
        rows.append(copies)
        row_labels.append(copy_labels)
        origins.append(chosen[kept])
    return np.concatenate(rows), np.concatenate(row_labels), np.concatenate(origins)


def _with_extra(
    rows: np.ndarray, labels: np.ndarray, origin: np.ndarray,
    extra: tuple[np.ndarray, np.ndarray] | None, recipe: Recipe, progress: Progress,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The training rows plus the extra digits (and their jittered copies), with origin -1,
    and the rows' SVC weights (None when there are no extra digits)."""
    if extra is None or not len(extra[1]):
        return rows, labels, origin, None
    images, extra_labels = np.asarray(extra[0], dtype=np.uint8), np.asarray(extra[1])
    copies = jittered_copies(images, recipe.extra_copies, seed=recipe.random_state)
    added = np.concatenate([images, copies])
    added_labels = np.tile(extra_labels.astype(np.int64), 1 + recipe.extra_copies)
    progress(f"{len(images):,} extra digits ({len(copies):,} jittered copies), weight "
             f"{recipe.extra_weight:g} each")
    weights = np.concatenate([np.ones(len(rows)), np.full(len(added), recipe.extra_weight)])
    return (np.concatenate([rows, added]), np.concatenate([labels, added_labels]),
            np.concatenate([origin, np.full(len(added), -1)]), weights)


def train_model(
    images: np.ndarray,
    labels: np.ndarray,
    recipe: Recipe = DEFAULT_RECIPE,
    progress: Progress | None = None,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
) -> DigitModel:
    """Train on uint8 images (n, 28, 28) and labels, plus `extra` (images, labels): digits
    such as corrections, weighted by `recipe.extra_weight`. The model carries its metadata."""
    progress = progress or (lambda _message: None)
    started, started_cpu = time.perf_counter(), time.process_time()
    labels = np.asarray(labels).astype(np.int64)
    rows, labels, origin = _with_copies(np.asarray(images), labels, recipe, progress)
    rows, labels, origin, weights = _with_extra(rows, labels, origin, extra, recipe, progress)
    progress(f"features ({recipe.features.kind}) of {len(rows):,} images")
    features = to_features(rows, recipe.features)
    calibration_figures: dict[str, Any] = {}
    if recipe.calibration_holdout:
        _, calibration_figures = _calibrate(features, labels, origin, recipe, progress, weights)
    progress(f"final model on all {len(rows):,} rows")
    pipeline = fit_pipeline(features, labels, recipe, progress, weights)
    seconds = time.perf_counter() - started
    svc = pipeline[-1]
    metadata = {
        "format": MODEL_FORMAT,
        "recipe": recipe.to_dict(),
        "calibration": calibration_figures or None,
        "training_size": len(images),
        "extra_size": 0 if extra is None else len(extra[1]),
        "training_rows": len(rows),
        "training_seconds": round(seconds, 2),
        "training_cpu_seconds": round(time.process_time() - started_cpu, 2),
        "n_support": int(svc.n_support_.sum()),
        "n_support_per_class": [int(n) for n in svc.n_support_],
        "gamma_value": float(svc._gamma),
        "versions": library_versions(),
    }
    progress(f"trained in {seconds:.1f} s")
    model = DigitModel(pipeline, metadata)
    if recipe.wholeness_pieces:
        add_wholeness(model, np.asarray(images), verifier_pieces(recipe, len(images)),
                      recipe.random_state, progress)
    return model


def verifier_pieces(recipe: Recipe, training_images: int) -> int:
    """The pieces the verifier is trained on: the recipe's, for the full training set; as
    many per training digit for a subset (`--limit`), so a quick model trains quickly."""
    share = recipe.wholeness_pieces * training_images // MNIST_TRAINING_IMAGES
    return min(recipe.wholeness_pieces, max(MIN_VERIFIER_PIECES, share))

