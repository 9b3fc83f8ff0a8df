"""The physics prior: average power per pod from its resource requests alone, no training data.

Why: a new workload unlike anything measured (a cold start, or a spec far from the training set)
still needs a sane number, and the tuned model learns *how far from this prior* a workload sits
rather than raw watts, which lets a neighbour with a different CPU request still inform the answer.

Coefficients follow the Cloud Carbon Footprint (CCF) methodology
(https://www.cloudcarbonfootprint.org/docs/methodology):

* CPU: ``min + (max − min) × utilisation`` W per vCPU, with CCF's cross-provider averages
  min = 0.74 W and max = 3.5 W, at CCF's default assumed utilisation of 50 % → 2.12 W per vCPU.
* Memory: 0.392 W per GB (10⁹ bytes) of memory.
* GPU (not in CCF): 100 W per GPU, roughly the mid-utilisation draw between a T4 (10–70 W) and a
  V100 (50–300 W).

Which quantity is used: the pod's effective CPU/memory *request* (what the scheduler reserves);
when unset, the effective *limit*; when both are unset, a documented default
(`DEFAULT_CPU_MCPU` = 100 mcpu, `DEFAULT_MEM_MIB` = 256 MiB) — the scale of a small sidecar-less
pod, so an unset request does not read as "free".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from app.core.schema import InferenceRequest

CPU_MIN_W = 0.74
"""CCF average minimum watts per vCPU (idle)."""
CPU_MAX_W = 3.5
"""CCF average maximum watts per vCPU (100 % utilisation)."""
CPU_UTILISATION = 0.5
"""CCF's default assumed average CPU utilisation."""
W_PER_VCPU = CPU_MIN_W + (CPU_MAX_W - CPU_MIN_W) * CPU_UTILISATION  # 2.12 W
W_PER_GB = 0.392
"""CCF memory coefficient, W per GB (10⁹ bytes)."""
W_PER_GPU = 100.0
DEFAULT_CPU_MCPU = 100.0
DEFAULT_MEM_MIB = 256.0
MIN_POWER_W = 1e-6
"""Floor for logs of measured or predicted power (a pod never draws exactly 0 W; idle pods measure mW)."""
NODE_MAX_VCPUS = 192
"""vCPUs of the largest ordinary node: the CPU a pod without a CPU request or limit could use."""
NODE_MAX_MEM_GB = 1536.0
"""Memory of the largest ordinary node (GB): what a pod without a memory request or limit could touch."""
MAX_W_PER_GPU = 700.0
"""The most one GPU draws: the NVIDIA H100 SXM's board power (TDP)."""


def physical_max_w(request: InferenceRequest) -> float:
    """The most a pod with these resources can draw (W): the cap on every prediction.

    CPU: the effective CPU limit, else the request, else a whole node, at CCF's maximum W per vCPU;
    memory: the limit, else the request, else a whole node, at CCF's W per GB; GPUs at `MAX_W_PER_GPU`.
    A request is used when there is no limit because the scheduler places the pod by it (a pod uses
    more only by bursting into idle capacity, which Kepler attributes to it, hence the node cap).
    """
    cpu_mcpu = _first(request.effective_lim_cpu_mcpu, request.effective_req_cpu_mcpu, NODE_MAX_VCPUS * 1000.0)
    mem_mib = _first(request.effective_lim_mem_mib, request.effective_req_mem_mib, NODE_MAX_MEM_GB * 1e9 / 2**20)
    vcpus = min(cpu_mcpu / 1000.0, NODE_MAX_VCPUS)
    mem_gb = min(mem_mib * 2**20 / 1e9, NODE_MAX_MEM_GB)
    return vcpus * CPU_MAX_W + mem_gb * W_PER_GB + request.gpu_count * MAX_W_PER_GPU


def physics_power_w(request: InferenceRequest) -> float:
    """Average power per pod (W) from the request's effective requests (or limits, or defaults).

    Expects a completed request (`complete_request` fills the `effective_*` fields); an incomplete
    one falls back to the defaults for anything missing.
    """
    return prior_base_w(request) + request.gpu_count * W_PER_GPU


def prior_base_w(request: InferenceRequest) -> float:
    """`physics_power_w` without its GPUs: the CPU and memory part (W), defaults filled in."""
    cpu_mcpu = _first(request.effective_req_cpu_mcpu, request.effective_lim_cpu_mcpu, DEFAULT_CPU_MCPU)
    mem_mib = _first(request.effective_req_mem_mib, request.effective_lim_mem_mib, DEFAULT_MEM_MIB)
    mem_gb = mem_mib * 2**20 / 1e9
    return cpu_mcpu / 1000.0 * W_PER_VCPU + mem_gb * W_PER_GB


def _first(request: float | None, limit: float | None, default: float) -> float:
    """The request if it is a positive finite number, else the limit if it is, else the default."""
    if request is not None and request > 0 and math.isfinite(request):
        return float(request)
    if limit is not None and limit > 0 and math.isfinite(limit):
        return float(limit)
    return float(default)


def _per_spec(request_json: Iterable[str], *values: Callable[[InferenceRequest], float]) -> list[np.ndarray]:
    """Each of `values` for training rows' `request_json` column, parsed once per distinct spec."""
    cache: dict[str, tuple[float, ...]] = {}
    rows = []
    for text in request_json:
        if text not in cache:
            req = InferenceRequest.model_validate_json(text)
            cache[text] = tuple(value(req) for value in values)
        rows.append(cache[text])
    columns = list(zip(*rows, strict=True)) or [() for _ in values]
    return [np.asarray(column, dtype=np.float64) for column in columns]


def physics_from_json(request_json: Iterable[str]) -> np.ndarray:
    """`physics_power_w` for training rows' `request_json` column (parsed once per distinct spec)."""
    return _per_spec(request_json, physics_power_w)[0]


def informative(request: InferenceRequest) -> bool:
    """True when the prior reads a real number (a CPU request or limit, or GPUs), not only defaults."""
    return bool(request.effective_req_cpu_mcpu or request.effective_lim_cpu_mcpu or request.gpu_count)


def _offset(request: InferenceRequest) -> float:
    return float(log_power(physics_power_w(request))) if informative(request) else float("nan")


def prior_offsets(request_json: Iterable[str]) -> np.ndarray:
    """log physics prior per training row where `informative`, NaN elsewhere (the tuned model's offset)."""
    return _per_spec(request_json, _offset)[0]


def gpu_rows(request_json: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """GPUs per pod and `prior_base_w` per training row: what scales a neighbour to another GPU count where
    the full prior ratio cannot (`app.ml.tuning.pair_shift`)."""
    gpus, base = _per_spec(request_json, lambda r: float(r.gpu_count), prior_base_w)
    return gpus, base


def log_power(power_w: np.ndarray | float) -> np.ndarray:
    """Natural log of power with the `MIN_POWER_W` floor: the space the tuned model and intervals use."""
    return np.log(np.maximum(np.asarray(power_w, dtype=np.float64), MIN_POWER_W))
