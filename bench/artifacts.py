"""Benchmark artifacts and load: synthetic workloads around the example manifests.

The shipped example manifests hold only a handful of workloads; a KNN fitted on them would make
the model's matrix product unrealistically cheap. So the benchmarks fit the encoder and train the
model on `n` synthetic variants of the examples (new names, images, resources, replicas) with a
known label formula, the same way the `tiny_artifacts` test fixture does on the raw examples.
The same generator, with another seed, produces the distinct specs the load generator sends, so no
request in a "distinct" run hits a spec the model or the cache has seen.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "example"

_IMAGES = ("nginx", "redis", "postgres", "envoy", "python", "golang", "node", "busybox", "kafka", "spark",
           "tensorflow", "pytorch", "memcached", "rabbitmq", "mysql", "elasticsearch")


def example_requests() -> list[Any]:
    """Every workload in `example/*.yaml`, completed (derived resources filled in)."""
    from app.adapters.files import read_requests
    from app.workloads.convert import complete_request

    out = []
    for f in sorted(EXAMPLES.glob("*.yaml")):
        out += [complete_request(r) for r in read_requests(f).requests]
    return out


def variant(base: Any, i: int, rng: random.Random, tag: str = "v") -> dict[str, Any]:
    """A JSON-ready InferenceRequest (containers form) derived from `base`: new name, image and resources."""
    scale = rng.choice((0.25, 0.5, 1.0, 2.0, 4.0)) * (1 + rng.random())
    containers = []
    for c in base.containers:
        d = c.model_dump(exclude_none=True)
        d["image"] = f"{rng.choice(_IMAGES)}:{rng.randint(1, 30)}.{rng.randint(0, 9)}"
        for key in ("req_cpu_mcpu", "lim_cpu_mcpu", "req_mem_mib", "lim_mem_mib"):
            if key in d:
                d[key] = round(d[key] * scale, 1)
        if "req_cpu_mcpu" not in d:
            d["req_cpu_mcpu"] = float(rng.randint(50, 4000))
        containers.append(d)
    return {
        "namespace": base.namespace,
        "workload_kind": base.workload_kind,
        "workload_name": f"{base.workload_name}-{tag}{i}",
        "replicas": rng.randint(1, 12),
        "labels": dict(base.labels),
        "containers": containers,
    }


def synthetic_requests(n: int, seed: int, tag: str = "v") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    bases = example_requests()
    return [variant(bases[i % len(bases)], i, rng, tag) for i in range(n)]


def label_w(req: Any) -> float:
    """Known average power per pod: 1 W + 2 W per requested vCPU + 0.5 W per GiB requested."""
    return 1.0 + 2.0 * (req.effective_req_cpu_mcpu or 0) / 1000 + 0.5 * (req.effective_req_mem_mib or 0) / 1024


def build_artifacts(out_dir: Path, *, n_train: int = 2000, sbert: bool = False, seed: int = 0,
                    static_text: bool = False) -> tuple[Path, Path]:
    """Fit an encoder (hashed text, + SBERT or + static text embeddings) and a k=5 KNN on `n_train` synthetic
    workloads."""
    import pandas as pd

    from app.core.schema import InferenceRequest
    from app.ml.artifacts import save_encoder, save_model
    from app.ml.dataset import features_frame, join
    from app.pipelines.encoding import fit_encoder
    from app.pipelines.training import train_model
    from app.workloads.convert import complete_request

    reqs = [complete_request(InferenceRequest.model_validate(d)) for d in synthetic_requests(n_train, seed, "t")]
    reqs += example_requests()
    encoder = fit_encoder(reqs, sbert=sbert, static_text=static_text)
    feats = features_frame(reqs, encoder.transform(reqs))
    labels = pd.DataFrame({
        "namespace": [r.namespace for r in reqs],
        "workload_kind": [r.workload_kind for r in reqs],
        "workload_name": [r.workload_name for r in reqs],
        "pod": [f"{r.workload_name}-0" for r in reqs],
        "avg_power_w": [label_w(r) for r in reqs],
    })
    rows, _ = join(feats, labels)
    model, card = train_model(rows, n_neighbors=5, n_splits=3)
    out_dir.mkdir(parents=True, exist_ok=True)
    enc_path = save_encoder(encoder, out_dir / "encoder.npz")
    model_path, _ = save_model(model, card, out_dir / "knn_energy.npz", encoder_path=enc_path)
    return enc_path, model_path
