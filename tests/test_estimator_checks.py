"""Every estimator of the project keeps scikit-learn's contract (`parametrize_with_checks`).

The regressors are k-NN; scikit-learn's generic checks use small random data, so k is kept small.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from app.ml.model import KNNEnergyRegressor
from app.ml.tuning import PhysicsKNNRegressor, TunedPhysicsKNN

ESTIMATORS = [
    KNNEnergyRegressor(n_neighbors=3),
    KNNEnergyRegressor(n_neighbors=2, weights="uniform", metric="cosine", log_target=False),
    PhysicsKNNRegressor(n_neighbors=3),
    TunedPhysicsKNN(k_grid=(1, 3), block_grid={}, n_splits=3),
]


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_contract(estimator, check) -> None:
    check(estimator)
