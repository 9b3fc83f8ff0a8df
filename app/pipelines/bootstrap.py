"""Build the default artifacts shipped in `artifacts/`: trained on the simulated demo cluster.

`python -m app bootstrap` reruns this, so the shipped model is reproducible from the code:
simulate (seeded) → convert the manifests → fit the encoder → join with the simulator's per-pod
ground truth → group-CV and train → save encoder, model and model card (`app.ml.artifacts`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.ml.artifacts import save_encoder, save_model
from app.ml.dataset import features_frame, join
from app.pipelines.encoding import fit_encoder
from app.pipelines.training import train_tuned_model
from app.simulate import ground_truth_frame, simulate_cluster
from app.workloads.convert import complete_request, requests_from_objects

DEFAULT_SEED = 7
DEFAULT_WORKLOADS = 120


def build_default_artifacts(
    out_dir: str | Path,
    seed: int = DEFAULT_SEED,
    n_workloads: int = DEFAULT_WORKLOADS,
    hours: float = 6.0,
    sbert: bool = False,
    static_text: bool = False,
    progress: Callable[[str], None] | None = None,
    **train_params: Any,
) -> dict[str, Any]:
    """Train encoder + model on the simulated cluster and write them to `out_dir`; returns paths and card."""
    say = progress or (lambda _msg: None)
    out = Path(out_dir)
    say(f"simulating {n_workloads} workloads over {hours:g} h (seed {seed})")
    cluster = simulate_cluster(seed=seed, n_workloads=n_workloads, hours=hours)
    requests = [complete_request(r) for r in requests_from_objects(cluster.manifests, "simulated cluster").requests]
    say(f"fitting the encoder on {len(requests)} workloads")
    encoder = fit_encoder(requests, sbert=sbert, static_text=static_text)
    feats = features_frame(requests, encoder.transform(requests))
    rows, report = join(feats, ground_truth_frame(cluster))
    say(report.lines()[0])
    say("nested group cross-validation, conformal calibration and training")
    model, card, extras = train_tuned_model(rows, feature_names=list(encoder.feature_names_), **train_params)
    card["training_data"] = f"simulated demo cluster (app.simulate, seed={seed}, {n_workloads} workloads, {hours:g} h)"
    enc_path = save_encoder(encoder, out / "encoder.npz")
    model_path, card_path = save_model(model, card, out / "knn_energy.npz", extras=extras, encoder_path=enc_path)
    return {"encoder": enc_path, "model": model_path, "card_path": card_path, "card": card}
