"""The KNN regressor: scikit-learn contract, exact neighbour arithmetic, group CV without leakage."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.utils.estimator_checks import check_estimator

from app.core.errors import PodPowerError
from app.ml.model import KNNEnergyRegressor, group_cv, regression_metrics


@pytest.mark.parametrize("params", [{}, {"log_target": False}, {"metric": "cosine", "weights": "uniform"}])
def test_check_estimator(params: dict) -> None:
    results = check_estimator(KNNEnergyRegressor(**params), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(results) > 40


@pytest.mark.parametrize(("weights", "metric"), [("uniform", "euclidean"), ("distance", "euclidean"),
                                                  ("uniform", "cosine"), ("distance", "cosine")])
def test_matches_scikit_learn_knn(weights: str, metric: str) -> None:
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(300, 12)), rng.normal(size=(50, 12))
    y = rng.uniform(1, 100, size=300)
    ours = KNNEnergyRegressor(n_neighbors=7, weights=weights, metric=metric, log_target=False).fit(X, y)
    ref = KNeighborsRegressor(n_neighbors=7, weights=weights, metric=metric, algorithm="brute").fit(X, y)
    np.testing.assert_allclose(ours.predict(Q), ref.predict(Q), rtol=1e-9)


def test_log_target_averages_in_log_space() -> None:
    X = np.array([[0.0], [1.0], [10.0]])
    y = np.array([1.0, 100.0, 5.0])
    m = KNNEnergyRegressor(n_neighbors=2, weights="uniform", log_target=True).fit(X, y)
    assert m.predict([[0.4]])[0] == pytest.approx(np.expm1((np.log1p(1) + np.log1p(100)) / 2))


def test_exact_match_returns_its_target() -> None:
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    m = KNNEnergyRegressor(n_neighbors=3).fit(X, [3.0, 30.0, 300.0])
    assert m.predict([[1.0, 1.0]])[0] == pytest.approx(30.0)


def test_group_cv_never_leaks_a_workload() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat([f"ns/Deployment/w{i}" for i in range(23)], rng.integers(1, 9, size=23))
    X = rng.normal(size=(len(groups), 4))
    y = rng.uniform(1, 10, size=len(groups))
    seen_val: set[str] = set()
    for tr, va in GroupKFold(n_splits=5).split(X, y, groups):
        assert not set(groups[tr]) & set(groups[va])
        seen_val |= set(groups[va])
    assert seen_val == set(groups)
    out = group_cv(lambda: KNNEnergyRegressor(n_neighbors=3), X, y, groups, n_splits=5)
    assert out["n_splits"] == 5 and len(out["folds"]) == 5
    assert sum(f["val_rows"] for f in out["folds"]) == len(y)
    assert not np.isnan(out["oof_pred"]).any()
    # a duplicated workload (identical X, y) must not be predictable from itself across folds:
    X2 = np.vstack([X, X[:1]])
    y2 = np.append(y, 1e6)
    g2 = np.append(groups, "ns/Deployment/clone")
    oof = group_cv(lambda: KNNEnergyRegressor(n_neighbors=1), X2, y2, g2, n_splits=5)["oof_pred"]
    assert oof[-1] != pytest.approx(1e6)


def test_group_cv_needs_two_groups() -> None:
    with pytest.raises(PodPowerError, match="at least 2 workloads"):
        group_cv(KNNEnergyRegressor, np.zeros((3, 2)), np.ones(3), np.array(["a", "a", "a"]))


def test_metrics_by_hand() -> None:
    m = regression_metrics(np.array([10.0, 20.0, 40.0]), np.array([12.0, 18.0, 40.0]))
    assert m["mae"] == pytest.approx(4 / 3)
    assert m["mape"] == pytest.approx((20 + 10 + 0) / 3)
    assert m["median_ape"] == pytest.approx(10)
    ss_tot = (10 - 70 / 3) ** 2 + (20 - 70 / 3) ** 2 + (40 - 70 / 3) ** 2
    assert m["r2"] == pytest.approx(1 - 8 / ss_tot)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_one_row_search_is_the_batch_search(metric: str) -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 12))
    X[50] = X[10]  # an exact duplicate: a tie, broken toward the lower training row in both paths
    model = KNNEnergyRegressor(n_neighbors=4, metric=metric).fit(X, rng.uniform(1, 50, 200))
    queries = np.vstack([rng.normal(size=(30, 12)), X[10] + 1e-9, X[:3]])
    dist, idx = model.kneighbors_unchecked(queries, 7)
    for i, q in enumerate(queries):
        d1, i1 = model.nearest_one(q, 7)
        assert i1 == idx[i].tolist()
        assert d1 == dist[i].tolist()  # both compute the kept distances elementwise: to the bit
    _, near = model.nearest_one(X[10] + 1e-9, 2)
    assert near == [10, 50]
    # and the neighbours are the true nearest, by a brute-force distance computed here
    q = queries[0] / (np.linalg.norm(queries[0]) if metric == "cosine" else 1.0)
    Z = X / (np.linalg.norm(X, axis=1, keepdims=True) if metric == "cosine" else 1.0)
    brute = np.linalg.norm(Z - q, axis=1) if metric == "euclidean" else 1.0 - Z @ q
    assert set(idx[0]) == set(np.argsort(brute)[:7])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_one_row_search_breaks_many_ties_toward_lower_rows(metric: str) -> None:
    # eight copies of one row among others: numpy's default sort may return them in any order,
    # the one-row search must still list the lowest training rows first, as the stable batch sort does
    rng = np.random.default_rng(11)
    X = rng.normal(size=(60, 5))
    copies = [3, 9, 17, 22, 30, 41, 47, 58]
    X[copies] = X[3]
    model = KNNEnergyRegressor(n_neighbors=3, metric=metric).fit(X, rng.uniform(1, 5, 60))
    dist, near = model.nearest_one(X[3].copy(), 5)
    assert near == copies[:5]
    assert dist == pytest.approx([0.0] * 5, abs=1e-7)
    _, batch = model.kneighbors_unchecked(X[3][None, :], 5)
    assert batch[0].tolist() == copies[:5]


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 4), st.integers(1, 9), st.sampled_from([0.1, 0.3, 1.0, 7.7]), st.data())
def test_equal_distances_go_to_the_lower_row_whatever_the_keys_rounding(dim: int, k: int, scale: float,
                                                                         data: st.DataObject) -> None:
    """Rows at the same distance (a coarse grid scaled by a decimal: true distances tie, the ranking keys
    ½‖x‖² − q·x round differently per row and per BLAS routine) come out the same from both searches;
    the kept rows are the k nearest by `math.dist` (to 12 digits), and equal distances list the lower
    row first."""
    grid = st.integers(-2, 2)
    n = data.draw(st.integers(k, 14))
    X = np.array([[data.draw(grid) for _ in range(dim)] for _ in range(n)], dtype=float) * scale
    q = np.array([data.draw(grid) for _ in range(dim)], dtype=float) * scale
    model = KNNEnergyRegressor(n_neighbors=k, metric="euclidean").fit(X, np.ones(n))
    dist, idx = model.kneighbors_unchecked(np.vstack([q, q + scale]), k)
    assert model.nearest_one(q, k) == (dist[0].tolist(), idx[0].tolist())
    assert model.nearest_one(q + scale, k) == (dist[1].tolist(), idx[1].tolist())
    true = [round(math.dist(X[i], q), 12) for i in range(n)]
    assert sorted(true[i] for i in idx[0]) == sorted(true)[:k]
    for j in range(k - 1):
        if dist[0][j] == dist[0][j + 1]:
            assert idx[0][j] < idx[0][j + 1]
        else:
            assert dist[0][j] < dist[0][j + 1]


def test_one_row_distances_are_the_true_distances() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 9)) * [1, 2, 3, 4, 5, 6, 7, 8, 9]
    model = KNNEnergyRegressor(n_neighbors=4).fit(X, rng.uniform(1, 5, 80))
    for q in rng.normal(size=(10, 9)) * 4:
        dist, near = model.nearest_one(q, 6)
        brute = np.linalg.norm(X - q, axis=1)
        assert near == np.argsort(brute, kind="stable")[:6].tolist()
        np.testing.assert_allclose(dist, brute[near], rtol=1e-10)


def test_a_model_pickled_without_half_norms_still_searches() -> None:
    # models saved before `half_sq_norms_` existed: it is derived again when they are loaded
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 4))
    model = KNNEnergyRegressor(n_neighbors=2).fit(X, rng.uniform(1, 5, 30))
    state = dict(model.__getstate__())
    del state["half_sq_norms_"]
    old = KNNEnergyRegressor.__new__(KNNEnergyRegressor)
    old.__setstate__(state)
    np.testing.assert_array_equal(old.half_sq_norms_, model.half_sq_norms_)
    assert old.nearest_one(X[7], 3) == model.nearest_one(X[7], 3)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("k", [1, 5, 10])
def test_a_large_models_search_is_the_small_models_to_the_bit(metric: str, k: int) -> None:
    """From SPARSE_KEYS_MIN_ROWS rows on, keys come from the queries' non-zero features and the k-th key is
    bounded by chunk minima; the answers must be the plain search's, float for float, ties included
    (duplicated rows, a coarse grid of sparse rows), in blocks and one row at a time."""
    from app.ml.model import SPARSE_KEYS_MIN_ROWS

    rng = np.random.default_rng(k)
    n, dim = SPARSE_KEYS_MIN_ROWS * 3 + 7, 40
    X = rng.integers(-2, 3, size=(n, dim)) * (rng.random((n, dim)) < 0.15) * 0.3
    X[100:140] = X[7]  # forty copies of one row
    X[:, 0] += 0.1  # no all-zero row (cosine)
    model = KNNEnergyRegressor(n_neighbors=k, metric=metric).fit(X, rng.uniform(1, 50, n))
    assert model.columns_ is not None
    small = KNNEnergyRegressor(n_neighbors=k, metric=metric).fit(X, model.y_)
    small.columns_ = None
    queries = np.vstack([X[7], X[rng.integers(0, n, 20)] + (rng.random((20, dim)) < 0.05) * 0.3,
                         rng.integers(-2, 3, size=(10, dim)) * 0.3 + 0.01])
    dist, idx = model.kneighbors_unchecked(queries, k)
    ref_dist, ref_idx = small.kneighbors_unchecked(queries, k)
    assert idx.tolist() == ref_idx.tolist()
    assert dist.tolist() == ref_dist.tolist()
    for i, q in enumerate(queries):
        assert model.nearest_one(q, k) == (ref_dist[i].tolist(), ref_idx[i].tolist())
        assert small.nearest_one(q, k) == (ref_dist[i].tolist(), ref_idx[i].tolist())
    assert idx[0].tolist() == ([7, *range(100, 100 + k - 1)] if k > 1 else [7])  # the copies, lowest first
    # and the rows are the true nearest, by distances computed here
    Z = X / (np.linalg.norm(X, axis=1, keepdims=True) if metric == "cosine" else 1.0)
    for i in range(1, 5):
        qz = queries[i] / (np.linalg.norm(queries[i]) if metric == "cosine" else 1.0)
        brute = np.linalg.norm(Z - qz, axis=1) if metric == "euclidean" else 1.0 - Z @ qz
        assert sorted(np.round(brute[idx[i]], 9)) == sorted(np.round(brute, 9))[:k]
