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

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from app.core.schema import InferenceRequest
from app.workloads.software import known, parse_image

MIB_PER_TIB = 2**20


class Facts(NamedTuple):
    """What the rules read, gathered once per spec (each rule then costs a comparison)."""

    req: InferenceRequest
    cpu: tuple[float, ...]  # effective CPU request and limit, mcpu, where set
    mem: tuple[float, ...]  # effective memory request and limit, MiB, where set
    container_cpu: tuple[float, ...]  # every container's CPU request and limit, where set
    container_mem: tuple[float, ...]  # every container's memory request and limit, where set


@dataclass(frozen=True)
class Rule:
    """One plausibility check: `fires(facts)` is True when the spec cannot be an ordinary one."""

    reason: str
    fires: Callable[[Facts], bool]


def facts(req: InferenceRequest) -> Facts:
    cs = req.containers
    return Facts(
        req,
        tuple(v for v in (req.effective_req_cpu_mcpu, req.effective_lim_cpu_mcpu) if v is not None),
        tuple(v for v in (req.effective_req_mem_mib, req.effective_lim_mem_mib) if v is not None),
        tuple(v for c in cs for v in (c.req_cpu_mcpu, c.lim_cpu_mcpu) if v is not None),
        tuple(v for c in cs for v in (c.req_mem_mib, c.lim_mem_mib) if v is not None),
    )


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


@functools.lru_cache(maxsize=8192)
def _nonsense_image(image: str) -> bool:
    ref = parse_image(image)
    if not ref.name or ref.name == "scratch" or ref.path.count("/") > 6:
        return True
    # `zzzz/qqqq`: no word in it (`httpd` is known software)
    return (known(ref.name) is None and len(ref.name) >= 4 and not _VOWEL.search(ref.path)
            and not any(ch.isdigit() for ch in ref.name))


RULES: tuple[Rule, ...] = (
    Rule("CPU above 192 vCPU per pod (larger than ordinary nodes)", lambda f: any(v > 192_000 for v in f.cpu)),
    Rule("CPU set below 1 millicore", lambda f: any(0 < v < 1 for v in f.container_cpu)),
    Rule("memory above 4 TiB per pod (larger than ordinary nodes)", lambda f: any(v > 4 * MIB_PER_TIB for v in f.mem)),
    Rule("memory set below 1 MiB (no runtime starts in it)", lambda f: any(0 < v < 1 for v in f.container_mem)),
    Rule("CPU and memory both set to zero", lambda f: bool(f.cpu) and bool(f.mem) and max(f.cpu) == 0
         and max(f.mem) == 0),
    Rule("more than 16 GPUs in one pod", lambda f: f.req.gpu_count > 16),
    Rule("GPUs driven by less than 100 millicores per GPU",
         lambda f: f.req.gpu_count > 0 and bool(f.cpu) and max(f.cpu) < 100 * f.req.gpu_count),
    Rule("GPUs inside a sandboxed runtime (gVisor, Kata): no measured workload runs so",
         lambda f: f.req.gpu_count > 0 and bool(re.search(r"gvisor|runsc|kata", f.req.runtime_class or "", re.I))),
    Rule("more than 150,000 replicas (Kubernetes' documented cluster limit)",
         lambda f: f.req.replicas > 150_000 or (f.req.parallelism or 0) > 150_000 or (f.req.completions or 0) > 10**8),
    Rule("a Job with parallelism 0 (it never runs)", lambda f: f.req.parallelism == 0 and f.req.workload_kind == "Job"),
    Rule("more than 32 containers in one pod", lambda f: len(f.req.containers) > 32),
    Rule("more than 20 init containers", lambda f: f.req.init_container_count > 20),
    Rule("more than 64 arguments to one container",
         lambda f: any(len(c.args) + len(c.command) > 64 for c in f.req.containers)),
    Rule("more than 100 labels", lambda f: len(f.req.labels) > 100),
    Rule("an image that cannot be a real one (scratch, no name, a path 7 levels deep, or no word in its name)",
         lambda f: any(_nonsense_image(c.image) for c in f.req.containers)),
    Rule("a node type that names no cloud instance type",
         lambda f: f.req.node_type is not None and not _INSTANCE_TYPE.match(f.req.node_type)),
    Rule("a CronJob with GPUs scheduled more often than every 5 minutes",
         lambda f: f.req.workload_kind == "CronJob" and f.req.gpu_count > 0 and _every_few_minutes(f.req.schedule)),
)


def implausible(req: InferenceRequest) -> list[str]:
    """The reasons a spec is no ordinary one (empty: plausible). Expects a completed request."""
    f = facts(req)
    return [rule.reason for rule in RULES if rule.fires(f)]
