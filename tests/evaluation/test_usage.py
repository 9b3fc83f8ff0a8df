"""Usage predictions (issue: cAdvisor usage as extra targets): CPU cores and memory bytes per pod."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.schema import InferenceRequest
from app.serving.predictor import Predictor


def test_training_specs_get_their_measured_usage(sim, tuned_artifacts) -> None:
    """A training spec's nearest workload is itself, so with k neighbours the prediction is the mean
    of those neighbours' measured usage; computed here from the simulator's ground truth directly."""
    predictor = Predictor.load(*tuned_artifacts)
    k = int(predictor.model.n_neighbors_)
    truth = sim.truth.groupby(["namespace", "workload_kind", "workload_name"])[
        ["cpu_cores_used", "mem_bytes_used"]].mean()
    checked = 0
    for req in sim.requests[:25]:
        pred = predictor.predict(req, explain=True)
        assert pred.pred_cpu_cores is not None and pred.pred_mem_bytes is not None
        names = [(n.namespace, n.workload_kind, n.workload_name) for n in pred.neighbors[:k]]
        expected = truth.loc[names].mean()
        assert pred.pred_cpu_cores == pytest.approx(expected["cpu_cores_used"], rel=1e-9)
        assert pred.pred_mem_bytes == pytest.approx(expected["mem_bytes_used"], rel=1e-9)
        checked += 1
    assert checked == 25


def test_usage_tracks_requests(tuned_artifacts) -> None:
    """A big database pod is predicted to use more CPU and memory than a tiny sidecar-less pod."""
    predictor = Predictor.load(*tuned_artifacts)
    small = InferenceRequest.model_validate({"workload_kind": "Deployment", "workload_name": "tiny", "containers": [
        {"name": "c", "image": "busybox:1.36", "req_cpu_mcpu": 10, "req_mem_mib": 16}]})
    big = InferenceRequest.model_validate({"workload_kind": "StatefulSet", "workload_name": "db", "containers": [
        {"name": "c", "image": "postgres:16.3", "req_cpu_mcpu": 4000, "req_mem_mib": 16384}]})
    a, b = predictor.predict(small), predictor.predict(big)
    assert np.isfinite([a.pred_cpu_cores, b.pred_cpu_cores]).all()
    assert b.pred_mem_bytes > a.pred_mem_bytes
