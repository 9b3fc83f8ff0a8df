"""Conformal quantiles by hand, the tuned estimator's contract and its physics rescaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from app.conformal import calibrate, coverage
from app.model import KNNEnergyRegressor
from app.tuning import PhysicsKNNRegressor, TunedPhysicsKNN, feature_blocks


def test_calibrate_uses_the_conformal_ranks() -> None:
    r = np.linspace(-1.0, 1.0, 99)  # sorted already
    iv = calibrate(r[::-1], 0.8)
    # n = 99: lower rank ⌊100 · 0.1⌋ = 10, upper rank ⌈100 · 0.9⌉ = 90 (1-based)
    assert (iv.q_low, iv.q_high) == pytest.approx((r[9], r[89]))
    low, high = iv.bounds(np.array([2.0]))
    assert (low[0], high[0]) == pytest.approx((2.0 * math.exp(r[9]), 2.0 * math.exp(r[89])))


def test_coverage_counts_inclusive_bounds() -> None:
    assert coverage(np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, 2.0), np.full(4, 3.0)) == 0.5


def test_bad_level_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        calibrate(np.zeros(5), 1.2)


def test_physics_knn_passes_check_estimator() -> None:
    check_estimator(PhysicsKNNRegressor())


def test_tuned_knn_passes_check_estimator() -> None:
    check_estimator(TunedPhysicsKNN(k_grid=(1, 3), block_grid={}, n_splits=3))


def test_physics_knn_rescales_a_neighbour_by_the_prior_ratio() -> None:
    X = np.array([[0.0], [10.0]])
    y = np.array([3.0, 100.0])
    off = np.log(np.array([1.5, 50.0]))
    m = PhysicsKNNRegressor(n_neighbors=1).fit(X, y, offset=off)
    # nearest is row 0 (3 W with prior 1.5 W): a query with prior 6 W gets 3 × 6 / 1.5 = 12 W
    assert m.predict([[0.1]], offset=[math.log(6.0)])[0] == pytest.approx(12.0)
    # a query without an informative prior (NaN) takes the neighbour's measured power as is
    assert m.predict([[0.1]], offset=[float("nan")])[0] == pytest.approx(3.0)
    # and without offsets it is a log-target 1-NN
    assert m.predict([[9.0]])[0] == pytest.approx(100.0)


def test_tuned_knn_picks_k_by_group_cv() -> None:
    rng = np.random.default_rng(0)
    # two tight clusters with very different power: 1-NN is right, larger k mixes clusters in
    X = np.vstack([rng.normal(0, 0.01, (6, 2)), rng.normal(5, 0.01, (2, 2))])
    y = np.array([1.0] * 6 + [1000.0] * 2)
    t = TunedPhysicsKNN(k_grid=(1, 5), block_grid={}, n_splits=4).fit(X, y)
    assert t.best_params_["n_neighbors"] == 1
    assert t.predict(X[:1])[0] == pytest.approx(1.0)
    assert isinstance(t.best_estimator_, KNNEnergyRegressor)


def test_feature_blocks_from_names() -> None:
    names = ["num__a", "num__b", "cat__k=x", "txt__h0", "txt__h1", "txt__h2"]
    assert feature_blocks(6, names) == {"numeric": (0, 2), "categorical": (2, 3), "text": (3, 6)}
    assert feature_blocks(20) == {"numeric": (0, 16), "other": (16, 20)}
