"""The predictor's lean KNN query (no scikit-learn validation) gives bit-identical results to
`KNNEnergyRegressor.predict`, for every metric / weights / log_target and for exact matches.

(Belongs with the predictor's tests; it is here because the API's speed work introduced it.)
"""

from __future__ import annotations

import numpy as np
import pytest

from app.model import KNNEnergyRegressor
from app.predictor import _knn_predict


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("log_target", [True, False])
@pytest.mark.parametrize("k", [1, 5, 500])
def test_same_bits_as_model_predict(metric: str, weights: str, log_target: bool, k: int) -> None:
    rng = np.random.default_rng(k)
    X = rng.standard_normal((300, 40))
    y = rng.uniform(0.5, 200.0, 300)
    model = KNNEnergyRegressor(n_neighbors=k, weights=weights, metric=metric, log_target=log_target).fit(X, y)
    queries = np.vstack([rng.standard_normal((7, 40)), X[:3]])  # X[:3]: exact matches (distance 0)
    for rows in (queries[:1], queries[7:8], queries):
        np.testing.assert_array_equal(_knn_predict(model, rows), model.predict(rows))
