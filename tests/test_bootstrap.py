"""The shipped default artifacts load and predict; `bootstrap` rebuilds them from the simulator."""

import hashlib
import json

import numpy as np

from app.adapters.files import read_requests
from app.core.settings import DEFAULT_ARTIFACTS
from app.pipelines.bootstrap import build_default_artifacts
from app.serving.predictor import Predictor
from app.simulate import ground_truth_frame, simulate_cluster
from app.workloads.convert import requests_from_objects
from tests.conftest import EXAMPLES


def test_default_artifacts_load_and_predict_every_example() -> None:
    predictor = Predictor.load(DEFAULT_ARTIFACTS / "encoder.npz", DEFAULT_ARTIFACTS / "knn_energy.npz")
    card = json.loads((DEFAULT_ARTIFACTS / "knn_energy.card.json").read_text())
    assert "simulated demo cluster" in card["training_data"]
    assert card["target"] == "avg_power_w" and card["groups"] >= 100
    for which, name in (("encoder", "encoder.npz"), ("model", "knn_energy.npz")):  # the shipped files are the card's
        assert card["artifacts"][which]["sha256"] == hashlib.sha256((DEFAULT_ARTIFACTS / name).read_bytes()).hexdigest()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for pred in predictor.predict_many(read_requests(path).requests):
            assert 0 < pred.pred_avg_power_w < 5000, (path, pred)
            assert pred.model_version == card["model_version"]


def test_default_model_recovers_training_workloads() -> None:
    """Predicting the simulator's own workloads lands near their measured mean power (in-sample sanity)."""
    predictor = Predictor.load(DEFAULT_ARTIFACTS / "encoder.npz", DEFAULT_ARTIFACTS / "knn_energy.npz")
    cluster = simulate_cluster(seed=7, n_workloads=120, hours=6.0)
    truth = ground_truth_frame(cluster).groupby(["namespace", "workload_kind", "workload_name"])["avg_power_w"].mean()
    reqs = requests_from_objects(cluster.manifests).requests
    preds = predictor.predict_many(reqs)
    ratio = np.array([p.pred_avg_power_w / truth[(p.namespace, p.workload_kind, p.workload_name)] for p in preds])
    assert np.median(np.abs(np.log(ratio))) < np.log(1.5)


def test_bootstrap_builds_working_artifacts(tmp_path) -> None:
    out = build_default_artifacts(tmp_path, seed=3, n_workloads=30, hours=2.0, n_splits=3)
    assert out["card"]["groups"] == 30
    p = Predictor.load(out["encoder"], out["model"])
    (req,) = read_requests(EXAMPLES / "pod-guaranteed.yaml").requests
    assert p.predict(req).pred_avg_power_w > 0
    assert sorted(f.name for f in tmp_path.iterdir()) == ["encoder.npz", "knn_energy.card.json", "knn_energy.npz"]
