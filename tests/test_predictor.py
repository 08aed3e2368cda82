"""The fast predictor gives exactly `SVC.predict`'s labels, with a confidence and a runner-up."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from core.calibration import Calibration
from core.data import load_split
from core.features import HOG, PIXELS, to_features
from core.predictor import FastPredictor, _int_power
from core.training import EIGHT_NEIGHBOURS, Recipe, fit_pipeline

POLY = {"features": PIXELS, "kernel": "poly", "C": 1.0}
RECIPES = {
    "pixels poly-4": Recipe(pca_components=None, degree=4, **POLY),
    "pca-30 poly-5": Recipe(pca_components=30, degree=5, **POLY),
    "pca-50 poly-4 C=10": Recipe(pca_components=50, degree=4, **{**POLY, "C": 10.0}),
    "pca-40 virtual SVs poly-5": Recipe(
        pca_components=40, degree=5, first_degree=4, virtual_shifts=EIGHT_NEIGHBOURS, **POLY
    ),
    "pca-20 poly-3 gamma=0.05": Recipe(
        pca_components=20, degree=3, gamma=0.05, coef0=0.5, **POLY
    ),
    "hog pca-100 rbf C=5": Recipe(features=HOG, pca_components=100, kernel="rbf", C=5.0),
    "hog pca-100 rbf 1.5 x scale": Recipe(
        features=HOG, pca_components=100, kernel="rbf", C=5.0, gamma_factor=1.5
    ),
    "hog rbf gamma=0.02": Recipe(features=HOG, pca_components=None, kernel="rbf", gamma=0.02),
    "pixels pca-40 rbf C=1": Recipe(features=PIXELS, pca_components=40, kernel="rbf", C=1.0),
}


@pytest.fixture(scope="module")
def images(data_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    train, labels = load_split(data_dir, "train", limit=1200)
    test, _ = load_split(data_dir, "test", limit=1500)
    return train, labels.astype(np.int64), test


@pytest.fixture(scope="module", params=sorted(RECIPES))
def fitted_and_test(request, images) -> tuple[Pipeline, np.ndarray]:
    train, labels, test = images
    recipe = RECIPES[request.param]
    x = to_features(train, recipe.features)
    pipeline = fit_pipeline(x, labels, recipe, progress=lambda _m: None)
    return pipeline, to_features(test, recipe.features)


@pytest.fixture()
def fitted(fitted_and_test) -> Pipeline:
    return fitted_and_test[0]


@pytest.fixture()
def features(fitted_and_test) -> tuple[None, None, np.ndarray]:
    """The test rows in the fitted model's features, where the tests expect them."""
    return None, None, fitted_and_test[1]


def test_labels_equal_sklearn(fitted: Pipeline, features) -> None:
    test = features[2]
    predictions = FastPredictor.from_pipeline(fitted).predict(test)
    np.testing.assert_array_equal(predictions.labels, fitted.predict(test))
    assert predictions.labels.dtype == np.int64


def test_decisions_follow_sklearn_sign_convention(fitted: Pipeline, features) -> None:
    test = features[2][:300]
    fast = FastPredictor.from_pipeline(fitted)
    np.testing.assert_allclose(
        fast.decision_function(test), fitted.decision_function(test), rtol=1e-3, atol=1e-3
    )


def test_confidence_and_runner_up_are_meaningful(fitted: Pipeline, features) -> None:
    predictions = FastPredictor.from_pipeline(fitted).predict(features[2])
    assert predictions.confidence.dtype == np.float32
    assert ((predictions.confidence >= 0) & (predictions.confidence <= 1)).all()
    assert (predictions.runner_up != predictions.labels).all()
    assert set(np.unique(predictions.runner_up)) <= set(range(10))


def test_the_calibration_maps_the_margin_to_the_confidence(fitted: Pipeline, features) -> None:
    calibration = Calibration(slope=3.0, intercept=1.0)
    predictions = FastPredictor(fitted, calibration=calibration).predict(features[2][:200])
    expected = 1 / (1 + np.exp(-(3.0 * predictions.margin + 1.0)))
    np.testing.assert_allclose(predictions.confidence, expected, rtol=1e-5)
    order = np.argsort(predictions.margin)
    assert (np.diff(predictions.confidence[order]) >= 0).all()  # more margin, more confidence


def test_float64_recomputation_gives_the_same_labels(fitted: Pipeline, features) -> None:
    test = features[2][:400]
    every_row_exact = FastPredictor(fitted, tie_margin=1e9).predict(test)
    float32_only = FastPredictor(fitted, tie_margin=0.0).predict(test)
    np.testing.assert_array_equal(every_row_exact.labels, fitted.predict(test))
    assert np.mean(float32_only.labels == every_row_exact.labels) > 0.99




@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5, 6, 9])
def test_integer_power(degree: int) -> None:
    values = np.linspace(-2, 2, 11, dtype=np.float64)
    np.testing.assert_allclose(_int_power(values.copy(), degree), values**degree)


def test_gamma_factor_multiplies_the_scale_gamma(images) -> None:
    train, labels, _ = images
    x = to_features(train[:300], HOG)
    gammas = [
        fit_pipeline(x, labels[:300], Recipe(features=HOG, pca_components=30, gamma_factor=f),
                     progress=lambda _m: None)[-1]._gamma
        for f in (1.0, 1.5)
    ]
    assert gammas[1] == pytest.approx(1.5 * gammas[0], rel=1e-6)
