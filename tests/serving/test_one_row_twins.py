"""Every one-row fast path answers exactly as its batch twin, through every branch.

The API serves one request at a time through scalar twins (`KNNEnergyRegressor.nearest_one`,
`ServingExtras.query_one`/`_query_one`) of the batch paths (`kneighbors_unchecked`, `query`). Random
small models and queries drive both, including the branches a real model rarely reaches: uniform
weights, exact matches (distance 0, from duplicated grid points), a typical OOD distance of 0 and of
infinity, uninformative priors (no requests set), GPU counts that differ (with and without the GPU part of
the prior ratio), k larger than the training set, cosine metric.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.schema import ContainerSpec, InferenceRequest
from app.ml.tuning import PhysicsKNNRegressor
from app.serving.extras import EXPLAIN_NEIGHBORS, ServingExtras
from app.workloads.convert import complete_request

REL = 1e-9


def _request(cpu_mcpu: float | None, mem_mib: float | None, gpus: int) -> InferenceRequest:
    c = ContainerSpec(name="c", image="x:1", req_cpu_mcpu=cpu_mcpu, req_mem_mib=mem_mib)
    return complete_request(InferenceRequest(workload_kind="Deployment", workload_name="w", containers=[c],
                                             gpu_count=gpus))


requests = st.builds(_request, st.one_of(st.none(), st.sampled_from([10.0, 250.0, 1000.0, 4000.0])),
                     st.one_of(st.none(), st.sampled_from([64.0, 512.0, 8192.0])), st.sampled_from([0, 0, 1, 4]))


@st.composite
def cases(draw: st.DrawFn) -> tuple:
    n = draw(st.integers(1, 12))
    dim = draw(st.integers(1, 4))
    grid = st.integers(-2, 2).map(float)  # a coarse grid: duplicates and exact matches happen often
    X = np.array([[draw(grid) for _ in range(dim)] for _ in range(n)])
    y = np.array([draw(st.sampled_from([0.01, 0.5, 2.0, 40.0, 300.0])) for _ in range(n)])
    offsets = np.array([draw(st.one_of(st.just(math.nan), st.floats(-3, 5))) for _ in range(n)])
    model = PhysicsKNNRegressor(n_neighbors=draw(st.integers(1, 15)),
                                weights=draw(st.sampled_from(["distance", "uniform"])),
                                metric=draw(st.sampled_from(["euclidean", "euclidean", "cosine"])),
                                offset_scale=draw(st.sampled_from([0.0, 0.5, 1.0])))
    if model.metric == "cosine" and not np.all(np.linalg.norm(X, axis=1) > 0):
        X = X + 3.0  # cosine needs non-zero rows
    if draw(st.booleans()):  # the GPU part of the prior ratio (a model saved before it has none)
        model.fit(X, y, offset=offsets, gpus=[draw(st.sampled_from([0.0, 0.0, 1.0, 4.0])) for _ in range(n)],
                  base_w=[draw(st.sampled_from([0.05, 1.0, 20.0])) for _ in range(n)])
    else:
        model.fit(X, y, offset=offsets)
    typical = draw(st.sampled_from([0.0, math.inf, 0.5, 1.5]))
    extras = {"interval": {"level": 0.8, "q_low": -0.5, "q_high": 0.7, "n_calibration": 10}, "ood_distance": typical,
              "training_workloads": {"workload_name": [f"w{i}" for i in range(n)],
                                     "cpu_cores_used": [draw(st.one_of(st.just(math.nan), st.floats(0, 8)))
                                                        for _ in range(n)],
                                     "mem_bytes_used": [float(i) * 1e6 for i in range(n)]}}
    query = np.array([draw(grid) + draw(st.sampled_from([0.0, 0.0, 0.25])) for _ in range(dim)])
    if model.metric == "cosine" and not np.linalg.norm(query) > 0:
        query = query + 3.0
    return model, ServingExtras.from_extras(extras, model), query, draw(requests)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_query_one_equals_the_batch_query(case: tuple) -> None:
    model, serving, x, request = case
    assert serving.active
    batch = serving.query(model, x[None, :], [request], 1.0)[0]
    one = serving.query_one(model, x, request, 1.0)
    for name in ("power_w", "low_w", "high_w", "prior_weight"):
        a, b = getattr(one, name), getattr(batch, name)
        assert math.isclose(a, b, rel_tol=REL, abs_tol=1e-12), (name, a, b)
    assert one.out_of_distribution == batch.out_of_distribution
    assert one.neighbor_idx == batch.neighbor_idx
    np.testing.assert_allclose(one.neighbor_dist, batch.neighbor_dist, rtol=REL, atol=1e-9)
    for name in ("cpu_cores", "mem_bytes"):
        a, b = getattr(one, name), getattr(batch, name)
        assert (a is None and b is None) or math.isclose(a, b, rel_tol=REL), (name, a, b)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_nearest_one_equals_the_batch_search(case: tuple) -> None:
    model, _serving, x, _request = case
    k = max(model.n_neighbors_, EXPLAIN_NEIGHBORS)
    dist, idx = model.kneighbors_unchecked(np.vstack([x, x + 1.0]), k)  # a block (one row goes to nearest_one)
    one_dist, one_idx = model.nearest_one(x, k)
    assert one_idx == idx[0].tolist()
    np.testing.assert_allclose(one_dist, dist[0], rtol=REL, atol=1e-9)


def _same(a: object, b: object) -> bool:
    """Equal, float for float (NaN equal to NaN), through tuples and lists."""
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from([1.0, 1 / 60, 3.7]))
def test_query_row_is_the_batch_query_to_the_bit(case: tuple, to_watts: float) -> None:
    """`query_row` (a YAML body's single workload) must answer what the batch path answered, every float
    to the last bit: its answers were the batch path's before it existed."""
    model, serving, x, request = case
    batch = serving.query(model, x[None, :], [request], to_watts)[0]
    row = serving.query_row(model, x, request, to_watts)
    assert _same(tuple(row), tuple(batch)), (row, batch)
