"""Conformal quantiles by hand, the tuned estimator's contract and its physics rescaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from app.ml.conformal import calibrate, coverage
from app.ml.model import KNNEnergyRegressor
from app.ml.tuning import PhysicsKNNRegressor, TunedPhysicsKNN, feature_blocks


def test_calibrate_uses_the_conformal_ranks() -> None:
    r = np.linspace(-1.0, 1.0, 99)  # sorted already
    iv = calibrate(r[::-1], 0.8)
    # n = 99: lower rank ⌊100 · 0.1⌋ = 10, upper rank ⌈100 · 0.9⌉ = 90 (1-based)
    assert (iv.q_low, iv.q_high) == pytest.approx((r[9], r[89]))
    low, high = iv.bounds(np.array([2.0]))
    assert (low[0], high[0]) == pytest.approx((2.0 * math.exp(r[9]), 2.0 * math.exp(r[89])))


def test_one_row_per_group_is_the_rank_rule() -> None:
    r = np.random.default_rng(3).normal(size=57)
    plain, grouped = calibrate(r, 0.8), calibrate(r, 0.8, groups=np.arange(57))
    assert (grouped.q_low, grouped.q_high) == (plain.q_low, plain.q_high)
    assert grouped.n_workloads == 57 and plain.n_workloads is None


def test_a_workload_with_many_pods_counts_once() -> None:
    # 9 single-pod workloads with residuals -0.9, -0.7, …, 0.7 and one DaemonSet with 40 pods at 2.0
    singles = np.linspace(-0.9, 0.7, 9)
    r = np.concatenate([singles, np.full(40, 2.0)])
    groups = np.concatenate([np.arange(9), np.full(40, 99)])
    # per pod, 40 of 49 residuals are 2.0: the upper 90% quantile is 2.0
    assert calibrate(r, 0.8).q_high == 2.0
    # per workload: 10 groups of weight 1 plus the test group; cumulative weight reaches 0.9 · 11 = 9.9
    # only at the 10th group (sorted: the 9 singles, then the DaemonSet) -> 2.0; at level 0.6 it is
    # the ⌈0.8 · 11⌉ = 9th group, the largest single, 0.7, and the lower ⌊0.2 · 11⌋ = 2nd, -0.7
    iv = calibrate(r, 0.6, groups=groups)
    assert (iv.q_low, iv.q_high) == pytest.approx((-0.7, 0.7))
    # per pod the lower rank ⌊50 · 0.2⌋ = 10 lands on a DaemonSet pod (2.0), and q_low never exceeds 0
    assert calibrate(r, 0.6).q_low == 0.0


def test_non_finite_residuals_are_dropped_with_their_group() -> None:
    r = np.array([np.nan, -1.0, 0.0, 1.0, np.inf])
    iv = calibrate(r, 0.5, groups=np.array([0, 1, 2, 3, 4]))
    assert iv.n_calibration == 3 and iv.n_workloads == 3


def test_coverage_counts_inclusive_bounds() -> None:
    assert coverage(np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, 2.0), np.full(4, 3.0)) == 0.5


def test_coverage_per_group_weighs_groups_equally() -> None:
    y = np.array([1.0, 1.0, 1.0, 5.0])  # group a: 3 pods inside; group b: 1 pod outside
    low, high = np.zeros(4), np.full(4, 2.0)
    assert coverage(y, low, high) == 0.75
    assert coverage(y, low, high, groups=np.array(["a", "a", "a", "b"])) == 0.5


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
