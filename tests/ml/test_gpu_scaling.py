"""The GPU part of the prior ratio (`app.ml.tuning.pair_shift`): a GPU count is always written, so a neighbour is
scaled to the query's GPUs even where the CPU part of the ratio is noise (no CPU request on either side).

Found by an audit (2026-12-01): a node exporter with one GPU added was predicted at its neighbours' 0.02 W, and
adding a GPU left 6 of 158 workloads within ±7 %.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.ml.physics import W_PER_GPU
from app.ml.tuning import PhysicsKNNRegressor, pair_shift


def test_pair_shift_by_hand() -> None:
    nan = math.nan
    query = np.array([nan, 2.0])  # the first query sets no CPU; the second does
    neighbours = np.array([[1.0, nan, nan], [1.5, nan, 0.5]])
    gpus_q = np.array([1.0, 0.0])
    gpus_n = np.array([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    base = np.array([[3.0, 0.5, 7.0], [3.0, 4.0, 1.0]])
    got = pair_shift(query, neighbours, gpus_q, gpus_n, base)
    expected = [
        [math.log(3.0 + W_PER_GPU) - math.log(3.0),  # query uninformative: the GPU part alone
         math.log(0.5 + W_PER_GPU) - math.log(0.5),
         0.0],  # the same GPUs: nothing to scale
        [2.0 - 1.5,  # both informative: the full ratio, GPUs included in it
         math.log(4.0) - math.log(4.0 + 2 * W_PER_GPU),  # the neighbour's 2 GPUs scaled away
         2.0 - 0.5],
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    # without the GPU arrays: the rule as it was (0 where either prior is uninformative)
    np.testing.assert_array_equal(pair_shift(query, neighbours), [[0.0, 0.0, 0.0], [0.5, 0.0, 1.5]])


def test_a_neighbour_without_requests_is_scaled_to_the_query_gpus() -> None:
    """One training row (no CPU request: offset NaN) measured 0.02 W; a query holding a GPU gets that power
    scaled by (base + 100 W) / base, a query without one gets it as measured."""
    model = PhysicsKNNRegressor(n_neighbors=1).fit([[0.0]], [0.02], offset=[math.nan], gpus=[0.0], base_w=[0.25])
    with_gpu, without = model.predict([[0.0], [0.0]], offset=[math.log(100.25), math.nan], gpus=[1, 0])
    assert with_gpu == pytest.approx(0.02 * (0.25 + W_PER_GPU) / 0.25, rel=1e-12)
    assert without == pytest.approx(0.02, rel=1e-12)


def test_adding_a_gpu_raises_every_shipped_prediction() -> None:
    """On the corpus and the examples with the shipped model: one GPU more is at least twice the power
    (the prior gains 100 W, where the largest CPU and memory prior here is 44 W)."""
    from tests.trust.test_shipped_model import corpus, examples, predictor

    reqs = [r for r in [*corpus(), *examples()] if r.gpu_count == 0]
    base = predictor().predict_many(reqs)
    more = predictor().predict_many([r.model_copy(update={"gpu_count": 1}) for r in reqs])
    low = [(r.workload_name, a.pred_avg_power_w, b.pred_avg_power_w) for r, a, b in zip(reqs, base, more, strict=True)
           if b.pred_avg_power_w < 2 * a.pred_avg_power_w]
    assert len(reqs) > 100 and not low, low[:10]
