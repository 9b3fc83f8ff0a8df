"""Fixtures: a small seeded simulated cluster, its training rows, and tuned artifacts trained on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

SEED, WORKLOADS, HOURS = 7, 60, 3.0


@dataclass
class Sim:
    rows: pd.DataFrame
    feature_names: list[str]
    truth: pd.DataFrame
    requests: list


@pytest.fixture(scope="session")
def sim() -> Sim:
    from app.ml.dataset import features_frame, join
    from app.pipelines.encoding import fit_encoder
    from app.simulate import ground_truth_frame, simulate_cluster
    from app.workloads.convert import complete_request, requests_from_objects

    cluster = simulate_cluster(seed=SEED, n_workloads=WORKLOADS, hours=HOURS)
    reqs = [complete_request(r) for r in requests_from_objects(cluster.manifests, "sim").requests]
    encoder = fit_encoder(reqs)
    truth = ground_truth_frame(cluster)
    rows, _ = join(features_frame(reqs, encoder.transform(reqs)), truth)
    sim = Sim(rows=rows, feature_names=list(encoder.feature_names_), truth=truth, requests=reqs)
    sim.encoder = encoder  # type: ignore[attr-defined]
    return sim


@pytest.fixture(scope="session")
def tuned_artifacts(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from app.ml.artifacts import save_encoder, save_model
    from app.pipelines.training import train_tuned_model

    model, card, extras = train_tuned_model(sim.rows, feature_names=sim.feature_names)
    d = tmp_path_factory.mktemp("tuned-artifacts")
    enc = save_encoder(sim.encoder, d / "encoder.npz")  # type: ignore[attr-defined]
    path, _ = save_model(model, card, d / "knn_energy.npz", extras=extras, encoder_path=enc)
    return enc, path


@pytest.fixture(scope="session")
def default_transfer():  # a Transfer, imported lazily like the other fixtures' types
    """The transfer scenario with its defaults (seed 7 without the held-out families → seed 8), as documented."""
    from app.pipelines.evaluation import transfer_evaluation

    return transfer_evaluation()
