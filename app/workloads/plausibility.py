"""Is a spec one a real cluster could run? The absolute half of "out of distribution".

A prediction far from every measured workload is flagged by distance (`app.serving.extras`); but
distance alone cannot tell an ordinary manifest of software nobody measured (common, and fine to
predict by similarity) from a spec no node can run (100,000 vCPU, one byte of memory, 64 GPUs on one
pod). These rules say the latter, each with the reason a person reads. The bounds are generous:
beyond the ordinary nodes public clouds sell (192 vCPU and 4 TiB: AWS x2iedn.32xlarge has 128 vCPU and
4 TiB; GCP a2-megagpu-16g and Azure ND 16 GPUs at most per node; the 24 TiB u7in machines are
not Kubernetes nodes anyone sizes a pod to), and Kubernetes' documented scalability limits (150,000
pods per cluster).
A rule fires only on a value a user wrote; unset fields are never implausible.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from app.core.schema import InferenceRequest
from app.workloads.software import known, parse_image

MIB_PER_TIB = 2**20


@dataclass(frozen=True)
class Rule:
    """One plausibility check: `fires(request)` is True when the spec cannot be an ordinary one."""

    reason: str
    fires: Callable[[InferenceRequest], bool]


def _cpu(req: InferenceRequest) -> list[float]:
    return [v for v in (req.effective_req_cpu_mcpu, req.effective_lim_cpu_mcpu) if v is not None]


def _mem(req: InferenceRequest) -> list[float]:
    return [v for v in (req.effective_req_mem_mib, req.effective_lim_mem_mib) if v is not None]


def _container_values(req: InferenceRequest, field: str) -> list[float]:
    return [v for c in req.containers if (v := getattr(c, field)) is not None]


_VOWEL = re.compile(r"[aeiouy]")
_INSTANCE_TYPE = re.compile(
    r"^(?:[a-z][a-z0-9-]*\d[a-z0-9-]*\.(?:nano|micro|small|medium|large|metal|\d*xlarge)[a-z0-9-]*"  # AWS
    r"|[a-z]\d[a-z]?-[a-z]+(?:-\d+[a-z]*)*"  # GCP
    r"|standard_[a-z0-9_]+)$", re.IGNORECASE)  # Azure
"""AWS (`m5.large`, `p4d.24xlarge`), GCP (`n2-standard-4`, `a2-highgpu-8g`) and Azure (`Standard_D4s_v3`) names."""


def _every_few_minutes(schedule: str | None) -> bool:
    minute = (schedule or "").split()[:1]
    if not minute:
        return False
    m = re.fullmatch(r"\*(?:/(\d+))?", minute[0])
    return m is not None and int(m.group(1) or 1) < 5


def _nonsense_image(req: InferenceRequest) -> bool:
    for c in req.containers:
        ref = parse_image(c.image)
        if not ref.name or ref.name == "scratch" or ref.path.count("/") > 6:
            return True
        if (known(ref.name) is None and len(ref.name) >= 4 and not _VOWEL.search(ref.path)
                and not any(ch.isdigit() for ch in ref.name)):
            return True  # `zzzz/qqqq`: no word in it (`httpd` is known software)
    return False


RULES: tuple[Rule, ...] = (
    Rule("CPU above 192 vCPU per pod (larger than ordinary nodes)", lambda r: any(v > 192_000 for v in _cpu(r))),
    Rule("CPU set below 1 millicore", lambda r: any(0 < v < 1 for v in _container_values(r, "req_cpu_mcpu"))
         or any(0 < v < 1 for v in _container_values(r, "lim_cpu_mcpu"))),
    Rule("memory above 4 TiB per pod (larger than ordinary nodes)",
         lambda r: any(v > 4 * MIB_PER_TIB for v in _mem(r))),
    Rule("memory set below 1 MiB (no runtime starts in it)",
         lambda r: any(0 < v < 1 for v in _container_values(r, "req_mem_mib"))
         or any(0 < v < 1 for v in _container_values(r, "lim_mem_mib"))),
    Rule("CPU and memory both set to zero", lambda r: bool(_cpu(r)) and bool(_mem(r))
         and max(_cpu(r)) == 0 and max(_mem(r)) == 0),
    Rule("more than 16 GPUs in one pod", lambda r: r.gpu_count > 16),
    Rule("GPUs driven by less than 100 millicores per GPU",
         lambda r: r.gpu_count > 0 and bool(_cpu(r)) and max(_cpu(r)) < 100 * r.gpu_count),
    Rule("GPUs inside a sandboxed runtime (gVisor, Kata): no measured workload runs so",
         lambda r: r.gpu_count > 0 and bool(re.search(r"gvisor|runsc|kata", r.runtime_class or "", re.IGNORECASE))),
    Rule("more than 150,000 replicas (Kubernetes' documented cluster limit)",
         lambda r: r.replicas > 150_000 or (r.parallelism or 0) > 150_000 or (r.completions or 0) > 10**8),
    Rule("a Job with parallelism 0 (it never runs)", lambda r: r.parallelism == 0 and r.workload_kind == "Job"),
    Rule("more than 32 containers in one pod", lambda r: len(r.containers) > 32),
    Rule("more than 20 init containers", lambda r: r.init_container_count > 20),
    Rule("more than 64 arguments to one container", lambda r: any(len(c.args) + len(c.command) > 64
                                                                  for c in r.containers)),
    Rule("more than 100 labels", lambda r: len(r.labels) > 100),
    Rule("an image that cannot be a real one (scratch, no name, a path 7 levels deep, or no word in its name)",
         _nonsense_image),
    Rule("a node type that names no cloud instance type", lambda r: r.node_type is not None
         and not _INSTANCE_TYPE.match(r.node_type)),
    Rule("a CronJob with GPUs scheduled more often than every 5 minutes",
         lambda r: r.workload_kind == "CronJob" and r.gpu_count > 0 and _every_few_minutes(r.schedule)),
)


def implausible(req: InferenceRequest) -> list[str]:
    """The reasons a spec is no ordinary one (empty: plausible). Expects a completed request."""
    return [rule.reason for rule in RULES if rule.fires(req)]
