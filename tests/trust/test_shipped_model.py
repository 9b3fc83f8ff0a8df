"""Numbers a person can believe: the shipped model on real-looking manifests.

Run against `artifacts/` (the model `bootstrap` ships) and the corpus of ordinary manifests in
`tests/data/corpus/` (written as public charts write them; see its README) plus `example/`:

* stability: changing only an image tag, the workload name, the namespace or a chart boilerplate
  label moves no prediction by 10 % or more;
* out of distribution: the flag fires on at most 10 % of ordinary manifests and on at least 95 %
  of the absurd ones in `tests/data/corpus/absurd/`;
* physical bounds: no prediction above what the pod's resources can draw (`app.ml.physics`),
  checked here against a bound computed in the test from the published coefficients;
* explanations add up: from `?explain=true`'s fields alone, a person recomputes the number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from app.adapters.files import read_requests
from app.core.schema import InferenceRequest
from app.core.settings import Settings
from app.serving.predictor import Predictor
from app.workloads.convert import complete_request
from tests.conftest import EXAMPLES, REPO

CORPUS = REPO / "tests" / "data" / "corpus"


@cache
def predictor() -> Predictor:
    s = Settings()
    return Predictor.load(s.encoder_path, s.model_path)


def _requests(paths: list[Path]) -> list[InferenceRequest]:
    out: list[InferenceRequest] = []
    for path in paths:
        out += [complete_request(r) for r in read_requests(path).requests]
    return out


@cache
def corpus() -> tuple[InferenceRequest, ...]:
    return tuple(_requests(sorted(CORPUS.glob("*.yaml"))))


@cache
def absurd() -> tuple[InferenceRequest, ...]:
    return tuple(_requests(sorted((CORPUS / "absurd").glob("*.yaml"))))


@cache
def examples() -> tuple[InferenceRequest, ...]:
    return tuple(_requests(sorted(EXAMPLES.glob("*.yaml"))))


def _retag(image: str) -> str:
    """Another release of the same image: a different version tag, no digest."""
    base = image.split("@", 1)[0]
    head, _, tag = base.rpartition(":")
    if not head or "/" in tag:
        return base + ":9.9.9"
    return f"{head}:{re.sub(r'[0-9]+', '9', tag) if re.search(r'[0-9]', tag) else '9.9.9'}"


def _ci_tag(image: str, style: str) -> str:
    """The same release as CI pipelines tag it; the hashes have letter runs (`cafe`, `deadbe`) on purpose."""
    base = image.split("@", 1)[0]
    head, _, tag = base.rpartition(":")
    if not head or "/" in tag:
        head, tag = base, "1.8.2"
    return f"{head}:" + {"commit": f"main-7e9cafe-{tag}", "git describe": f"{tag}-9-gdeadbe7",
                         "build": f"{tag}.post1+build.12", "digest": f"{tag}@sha256:{'ab' * 32}"}[style]


def _images(r: InferenceRequest, change: Callable[[str], str]) -> InferenceRequest:
    return r.model_copy(update={"containers": [c.model_copy(update={"image": change(c.image)}) for c in r.containers]})


def _ci_retag(style: str) -> Callable[[InferenceRequest], InferenceRequest]:
    return lambda r: _images(r, lambda image: _ci_tag(image, style))


VARIANTS = {
    "image tag": lambda r: _images(r, _retag),
    **{f"image tag ({style})": _ci_retag(style) for style in ("commit", "git describe", "build", "digest")},
    "workload name": lambda r: r.model_copy(update={"workload_name": r.workload_name + "-v2"}),
    "namespace": lambda r: r.model_copy(update={"namespace": "team-" + r.namespace}),
    "chart labels": lambda r: r.model_copy(update={"labels": {
        **r.labels, "helm.sh/chart": "something-9.9.9", "app.kubernetes.io/version": "9.9.9",
        "app.kubernetes.io/instance": "prod-eu", "app.kubernetes.io/managed-by": "Helm"}}),
}


@pytest.mark.parametrize("change", list(VARIANTS))
def test_a_cosmetic_change_moves_no_prediction_by_10_percent(change: str) -> None:
    model = predictor()
    moved = []
    reqs = [*corpus(), *examples()]
    base = model.predict_many(reqs)
    other = model.predict_many([VARIANTS[change](r) for r in reqs])
    for req, a, b in zip(reqs, base, other, strict=True):
        ratio = b.pred_avg_power_w / a.pred_avg_power_w
        if not 1 / 1.1 < ratio < 1.1:
            moved.append(f"{req.workload_kind} {req.namespace}/{req.workload_name}: "
                         f"{a.pred_avg_power_w:.4g} → {b.pred_avg_power_w:.4g} W")
    assert not moved, f"{len(moved)} of {len(reqs)} moved ≥ 10%: {moved[:10]}"


def test_out_of_distribution_flag_is_rare_on_ordinary_manifests() -> None:
    preds = predictor().predict_many(list(corpus()))
    flagged = [p.workload_name for p in preds if p.out_of_distribution]
    assert len(flagged) <= 0.10 * len(preds), f"{len(flagged)} of {len(preds)} flagged: {flagged}"


def test_out_of_distribution_flag_fires_on_absurd_specs() -> None:
    preds = predictor().predict_many(list(absurd()))
    missed = [p.workload_name for p in preds if not p.out_of_distribution]
    assert len(missed) <= 0.05 * len(preds), f"{len(missed)} of {len(preds)} not flagged: {missed}"


# Published coefficients, written here independently of app.ml.physics: CCF's maximum W per vCPU,
# CCF's W per GB of memory, the largest node the bound assumes and the most a GPU draws (H100 SXM TDP).
MAX_W_PER_VCPU, W_PER_GB, NODE_VCPUS, NODE_MEM_GB, MAX_W_PER_GPU = 3.5, 0.392, 192, 1536, 700.0


def physical_max_w(req: InferenceRequest) -> float:
    cpu = req.effective_lim_cpu_mcpu or req.effective_req_cpu_mcpu
    mem = req.effective_lim_mem_mib or req.effective_req_mem_mib
    vcpus = min(cpu / 1000, NODE_VCPUS) if cpu else NODE_VCPUS
    mem_gb = min(mem * 2**20 / 1e9, NODE_MEM_GB) if mem else NODE_MEM_GB
    return vcpus * MAX_W_PER_VCPU + mem_gb * W_PER_GB + req.gpu_count * MAX_W_PER_GPU


def test_no_prediction_above_what_the_resources_can_draw() -> None:
    reqs = [*corpus(), *absurd(), *examples()]
    over = [f"{r.workload_name}: {p.pred_avg_power_w:.4g} W > {physical_max_w(r):.4g} W"
            for r, p in zip(reqs, predictor().predict_many(reqs), strict=True)
            if p.pred_avg_power_w > physical_max_w(r) * (1 + 1e-9) or p.pred_avg_power_w_high > physical_max_w(r)
            * (1 + 1e-9)]
    assert not over, over[:10]


def test_usage_predictions_stay_within_the_limits() -> None:
    reqs = [*corpus(), *examples()]
    for r, p in zip(reqs, predictor().predict_many(reqs), strict=True):
        if p.pred_cpu_cores is not None and r.effective_lim_cpu_mcpu:
            assert p.pred_cpu_cores <= r.effective_lim_cpu_mcpu / 1000 * (1 + 1e-9), r.workload_name
        if p.pred_mem_bytes is not None and r.effective_lim_mem_mib:
            assert p.pred_mem_bytes <= r.effective_lim_mem_mib * 2**20 * (1 + 1e-9), r.workload_name


@pytest.mark.parametrize("which", ["examples", "corpus"])
def test_an_explanation_lets_a_person_recompute_the_number(which: str) -> None:
    """From the explanation's fields alone: the weighted mean of the neighbours' scaled log power,
    blended with the prior in log space, capped at the physical bound."""
    reqs = list(examples() if which == "examples" else corpus()[:40])
    reqs += [r.model_copy(update={"gpu_count": r.gpu_count + 1}) for r in reqs]  # neighbours scaled by GPUs alone
    scaled_by: set[str] = set()
    for r in reqs:
        p = predictor().predict(r, explain=True)
        ex = p.explanation
        assert ex is not None, r.workload_name
        used = [n for n in ex.neighbors if n.weight > 0]
        total = sum(n.weight for n in used)
        log_knn = sum(n.weight * math.log(n.scaled_power_w) for n in used) / total
        knn = math.exp(log_knn)
        assert knn == pytest.approx(ex.knn_power_w, rel=1e-9)
        for n in used:
            assert n.scaled_power_w == pytest.approx(n.measured_avg_power_w * n.scale, rel=1e-9)
            # the scale from the two priors, the GPUs and the exponent (100 W a GPU: the physics prior's)
            ratio = {"prior ratio": ex.prior_power_w / n.prior_power_w,
                     "GPUs": (n.prior_power_w + 100.0 * (r.gpu_count - n.gpus)) / n.prior_power_w,
                     "none": 1.0}[n.scaled_by]
            assert n.scale == pytest.approx(ratio**ex.offset_scale, rel=1e-9), (r.workload_name, n.workload_name)
            scaled_by.add(n.scaled_by)
        nearest, tau = ex.neighbors[0].distance, ex.typical_distance
        assert ex.prior_weight == pytest.approx(1 - tau / nearest if nearest > tau else 0.0, abs=1e-12)
        blended = math.exp((1 - ex.prior_weight) * math.log(knn) + ex.prior_weight * math.log(ex.prior_power_w))
        assert min(blended, ex.physical_max_w) == pytest.approx(p.pred_avg_power_w, rel=1e-9), r.workload_name
    assert scaled_by == {"prior ratio", "GPUs", "none"}  # every rule of `scale` was recomputed
