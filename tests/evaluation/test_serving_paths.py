"""The one-request scalar serving path gives what the batch path gives, for every field it fills."""

from __future__ import annotations

import pytest

from app.core.schema import InferenceRequest
from app.serving.predictor import Predictor


def test_single_and_batch_paths_agree(sim, tuned_artifacts) -> None:
    batch_predictor = Predictor.load(*tuned_artifacts, cache_size=0)
    single_predictor = Predictor.load(*tuned_artifacts, cache_size=0)
    odd = InferenceRequest.model_validate({"workload_kind": "Job", "workload_name": "huge", "gpu_count": 512,
                                           "containers": [{"name": "c", "image": "x", "req_cpu_mcpu": 1e7}]})
    requests = [*sim.requests, odd]
    batch = batch_predictor.predict_many(requests)  # several misses at once: the vectorised path
    assert any(p.out_of_distribution for p in batch) and not all(p.out_of_distribution for p in batch)
    for req, b in zip(requests, batch, strict=True):
        s = single_predictor.predict(req)  # one miss: the scalar path
        for field in ("pred_avg_power_w", "pred_avg_power_w_low", "pred_avg_power_w_high", "prior_weight",
                      "pred_cpu_cores", "pred_mem_bytes"):
            assert getattr(s, field) == pytest.approx(getattr(b, field), rel=1e-12, abs=1e-15), (req.workload_name,
                                                                                                 field)
        assert s.out_of_distribution == b.out_of_distribution
