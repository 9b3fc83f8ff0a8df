"""The predictor builds its `Prediction`s without validating them (`_new_prediction`): each one must be
exactly what validation makes of the same values, field types and order included, so the JSON is the
same to the byte."""

from __future__ import annotations

import pytest

from app.adapters.files import read_requests
from app.core.schema import InferenceRequest, Prediction
from app.ml.artifacts import load_pair
from app.serving.predictor import Predictor
from tests.conftest import EXAMPLES, REPO


def _requests() -> list[InferenceRequest]:
    out = []
    for f in sorted(EXAMPLES.glob("*.yaml")):
        out += read_requests(f).requests
    odd = {"workload_kind": "Job", "workload_name": "huge", "gpu_count": 512,  # far away and implausible
           "containers": [{"name": "c", "image": "zzzz/qqqq", "req_cpu_mcpu": 1e7}]}
    bare = {"workload_kind": "DaemonSet", "workload_name": "bare", "containers": [{"name": "c", "image": "x"}]}
    return [*out, InferenceRequest.model_validate(odd), InferenceRequest.model_validate(bare)]


def _predictors() -> list[Predictor]:
    encoder, model, card, extras = load_pair(REPO / "artifacts" / "encoder.npz", REPO / "artifacts" / "knn_energy.npz")
    return [Predictor(encoder, model, card, extras=extras),  # interval, OOD, usage, reasons
            Predictor(encoder, model, card)]  # no serving extras: the bare fields only


@pytest.mark.parametrize("with_extras", [True, False])
def test_predictions_are_what_validation_makes(with_extras: bool) -> None:
    predictor = _predictors()[0 if with_extras else 1]
    preds = [predictor.predict(r, "t") for r in _requests()]
    preds += [predictor.predict(r, "t", nodes=3) for r in _requests()]  # a cache hit, a DaemonSet on 3 nodes
    assert any(p.ood_reasons for p in preds) == with_extras
    for pred in preds:
        validated = Prediction.model_validate({k: getattr(pred, k) for k in pred.model_fields_set})
        assert list(pred.__dict__) == list(validated.__dict__)
        assert [type(v) for v in pred.__dict__.values()] == [type(v) for v in validated.__dict__.values()]
        assert pred == validated and pred.model_fields_set == validated.model_fields_set
        assert (pred.__pydantic_serializer__.to_json(pred, exclude_none=True)
                == validated.__pydantic_serializer__.to_json(validated, exclude_none=True))


def test_one_missing_spec_answers_as_in_a_batch() -> None:
    """`predict_many` with one spec to compute (`encode_one`, `query_row`) answers as in a batch of several
    (`encode`, `query`), to the bit, on the shipped model: every field of every prediction."""
    encoder, model, card, extras = load_pair(REPO / "artifacts" / "encoder.npz", REPO / "artifacts" / "knn_energy.npz")
    alone, batched = (Predictor(encoder, model, card, cache_size=0, extras=extras) for _ in range(2))
    requests = _requests()
    variants = [r.model_copy(update={"replicas": 1 + i % 3, "containers": [
        c.model_copy(update={"req_cpu_mcpu": (c.req_cpu_mcpu or 100.0) * (1 + i / 7)}) for c in r.containers]})
        for i, r in enumerate(requests * 4)]
    requests += variants
    together = batched.predict_many(requests, "t", explain=True, hours=24.0)
    for req, want in zip(requests, together, strict=True):
        assert alone.predict_many([req], "t", explain=True, hours=24.0)[0].model_dump() == want.model_dump()
