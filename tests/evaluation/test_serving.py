"""Prediction-time features of a tuned artifact: intervals, explanations, OOD blend, horizon energy, API."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.schema import ContainerSpec, InferenceRequest
from app.serving.predictor import Predictor
from tests.evaluation.conftest import Sim

KEY = ["namespace", "workload_kind", "workload_name"]


@pytest.fixture(scope="module")
def predictor(tuned_artifacts: tuple[Path, Path]) -> Predictor:
    return Predictor.load(*tuned_artifacts, pue=1.0)


def _measured(sim: Sim) -> dict[tuple[str, str, str], float]:
    """Per-workload measured power straight from the simulator's ground truth (mean over pods)."""
    g = sim.truth.groupby(KEY)["avg_power_w"].mean()
    return {tuple(k): float(v) for k, v in g.items()}


def test_every_prediction_has_an_interval(predictor: Predictor, sim: Sim) -> None:
    preds = predictor.predict_many(sim.requests)
    for p in preds:
        assert p.interval_level == 0.8
        assert p.pred_avg_power_w_low <= p.pred_avg_power_w <= p.pred_avg_power_w_high
        assert p.out_of_distribution is not None and p.prior_weight is not None


def test_explanations_list_real_training_workloads(predictor: Predictor, sim: Sim) -> None:
    measured = _measured(sim)
    for req in sim.requests[:15]:
        p = predictor.predict(req, explain=True)
        assert p.neighbors and len(p.neighbors) >= 1
        dists = [n.distance for n in p.neighbors]
        # nearest first, by the distances themselves (app.ml.model.kneighbors_unchecked orders the
        # candidates by their exact distances, not by the cheaper ranking key)
        assert all(b >= a for a, b in itertools.pairwise(dists)), dists
        for n in p.neighbors:
            key = (n.namespace, n.workload_kind, n.workload_name)
            assert key in measured
            assert n.measured_avg_power_w == pytest.approx(measured[key])
        # a training spec finds itself first (distance ~0) and is in distribution
        first = p.neighbors[0]
        assert first.workload_name == req.workload_name and first.distance == pytest.approx(0, abs=1e-6)
        assert p.out_of_distribution is False and p.prior_weight == 0.0


def test_explain_is_off_by_default(predictor: Predictor, sim: Sim) -> None:
    assert predictor.predict(sim.requests[0]).neighbors is None


def test_absurd_spec_is_out_of_distribution_and_blends_the_prior(predictor: Predictor) -> None:
    c = ContainerSpec(name="x", image="acme/huge:1", req_cpu_mcpu=10_000_000, req_mem_mib=64 * 2**20,
                      lim_cpu_mcpu=10_000_000)
    req = InferenceRequest(workload_kind="Deployment", workload_name="huge", containers=[c], gpu_count=512)
    p = predictor.predict(req, explain=True)
    assert p.out_of_distribution is True
    assert 0.0 < p.prior_weight < 1.0
    assert p.neighbors[0].distance > predictor._serving.ood_distance


def test_horizon_and_carbon_for_a_deployment(predictor: Predictor, sim: Sim) -> None:
    req = next(r for r in sim.requests if r.workload_kind == "Deployment" and r.replicas > 1)
    p = predictor.predict(req, hours=10.0, grid_gco2_per_kwh=250.0, pue=1.2)
    joules = req.replicas * p.pred_avg_power_w * 10.0 * 3600.0 * 1.2
    assert (p.hours, p.pred_energy_j) == pytest.approx((10.0, joules))
    assert p.pred_energy_kwh == pytest.approx(joules / 3.6e6)
    assert p.pred_co2_g == pytest.approx(joules / 3.6e6 * 250.0)


def test_job_energy_is_per_run_from_similar_jobs_durations(predictor: Predictor, sim: Sim) -> None:
    req = next(r for r in sim.requests if r.workload_kind == "Job")
    p = predictor.predict(req, explain=True, hours=1.0)
    durations = sim.truth.groupby(KEY)["duration_s"].mean()
    near = [durations[(n.namespace, n.workload_kind, n.workload_name)] for n in p.neighbors
            if n.workload_kind in ("Job", "CronJob")]
    assert near, "a training Job's neighbours include Jobs"
    run_s = float(np.median(near))
    pods = req.completions or max(req.parallelism or req.replicas or 1, 1)
    assert p.hours == pytest.approx(run_s / 3600.0)
    assert p.pred_energy_j == pytest.approx(pods * p.pred_avg_power_w * run_s)


def test_negative_hours_is_an_input_error(predictor: Predictor, sim: Sim) -> None:
    from app.core.errors import InputError

    with pytest.raises(InputError, match="hours"):
        predictor.predict(sim.requests[0], hours=-1.0)


def test_api_query_parameters(tuned_artifacts: tuple[Path, Path], sim: Sim) -> None:
    from app.api.app import create_app
    from app.core.settings import Settings

    settings = Settings(encoder_path=tuned_artifacts[0], model_path=tuned_artifacts[1],
                        grid_gco2_per_kwh=300.0, pue=1.1)  # type: ignore[arg-type]
    req = next(r for r in sim.requests if r.workload_kind == "Deployment")
    body = json.loads(req.model_dump_json(exclude_none=True))
    with TestClient(create_app(settings, background=False)) as client:
        plain = client.post("/predict", json=body).json()
        assert plain["interval_level"] == 0.8 and "neighbors" not in plain and "pred_energy_j" not in plain
        r = client.post("/predict?explain=true&hours=2", json=body)
        assert r.status_code == 200, r.text
        got = r.json()
        joules = req.replicas * got["pred_avg_power_w"] * 2 * 3600 * 1.1  # PUE from settings
        assert got["pred_energy_j"] == pytest.approx(joules)
        assert got["pred_co2_g"] == pytest.approx(joules / 3.6e6 * 300.0)  # grid default from settings
        assert got["neighbors"][0]["workload_name"] == req.workload_name
        got = client.post("/predict?hours=1&grid_gco2_per_kwh=50", json=body).json()
        assert got["pred_co2_g"] == pytest.approx(got["pred_energy_kwh"] * 50.0)
        assert client.post("/predict?hours=-1", json=body).status_code == 422
        yaml_text = (Path(__file__).resolve().parents[2] / "example" / "pod-guaranteed.yaml").read_text()
        r = client.post("/predict/from-yaml?explain=true&hours=1", content=yaml_text,
                        headers={"content-type": "text/plain"})
        assert r.status_code == 200, r.text
        assert r.json()["neighbors"] and r.json()["hours"] == 1.0


def test_cli_predict_flags(tuned_artifacts: tuple[Path, Path], tmp_path: Path) -> None:
    from app.cli.main import main

    out = tmp_path / "p.ndjson"
    src = Path(__file__).resolve().parents[2] / "example" / "pod-guaranteed.yaml"
    assert main(["predict", str(src), "--encoder", str(tuned_artifacts[0]), "--model", str(tuned_artifacts[1]),
                 "--explain", "--hours", "3", "--grid-gco2-per-kwh", "100", "--out", str(out)]) == 0
    (p,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert p["neighbors"] and p["hours"] == 3.0
    assert p["pred_co2_g"] == pytest.approx(p["pred_energy_kwh"] * 100.0)
