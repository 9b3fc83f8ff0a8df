"""Is a spec one a real cluster could run? The absolute half of "out of distribution".

A prediction far from every measured workload is flagged by distance (`app.serving.extras`); but
distance alone cannot tell an ordinary manifest of software nobody measured (common, and fine to
predict by similarity) from a spec no node can run (100,000 vCPU, one byte of memory, 64 GPUs on one
pod). These rules say the latter, each with the reason a person reads. The bounds are generous:
beyond the ordinary nodes public clouds sell (192 vCPU and 4 TiB: AWS x2iedn.32xlarge has 128 vCPU and
4 TiB; GCP a2-megagpu-16g and Azure ND 16 GPUs at most per node; the 24 TiB u7in machines are
not Kubernetes nodes anyone sizes a pod to), and Kubernetes' documented scalability limits (150,000
pods per cluster, 5,000 nodes). GPU pods are bounded by the GPU nodes clouds sell: at most 2 TiB of memory
(AWS p5.48xlarge), and more than 8 GPUs only on 16-GPU nodes with at most 96 vCPU and 1,360 GB (GCP
a2-megagpu-16g; AWS p2.16xlarge has 64 vCPU and 732 GiB). A memory limit below 4 MiB starts no container
(Docker refuses limits under 6 MB; runc reports "container init was OOM-killed (memory limit too low?)").
A rule fires only on a value a user wrote; unset fields are never implausible.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from app.core.schema import InferenceRequest
from app.workloads.software import known, parse_image, runs_no_gpu_code

MIB_PER_TIB = 2**20
MIB_PER_GB = 1e9 / 2**20
CLUSTER_NODES = 5_000
"""Kubernetes' documented largest cluster (kubernetes.io/docs/setup/best-practices/cluster-large)."""
NODE_VCPUS, NODE_MEM_TIB, NODE_GPUS = 192, 4, 16
"""The largest ordinary node the per-pod rules allow (module docstring)."""


class Facts(NamedTuple):
    """What the rules read, gathered once per spec in one pass (each rule then costs a comparison or two).

    Numbers are finite and >= 0 here (the schema and `app.core.schema.check_numbers`), so "some
    value above x" is "the largest above x" and "some value in (0, 1)" is "the smallest positive below 1".
    """

    req: InferenceRequest
    cpu: float | None  # the larger of the effective CPU request and limit, mcpu (None: neither set)
    mem: float | None  # the same for memory, MiB
    container_cpu: float  # the smallest positive CPU request or limit of any container (inf: none)
    container_mem: float  # the same for memory
    container_mem_limit: float  # the smallest positive memory limit of any container (inf: none)
    pods: int  # pods at once: replicas, or a Job's parallelism when larger


def _largest(a: float | None, b: float | None) -> float | None:
    return a if b is None else b if a is None else max(a, b)


def facts(req: InferenceRequest) -> Facts:
    cpu = mem = mem_limit = math.inf
    for c in req.containers:
        for v in (c.req_cpu_mcpu, c.lim_cpu_mcpu):
            if v is not None and 0 < v < cpu:
                cpu = v
        for v in (c.req_mem_mib, c.lim_mem_mib):
            if v is not None and 0 < v < mem:
                mem = v
        if c.lim_mem_mib is not None and 0 < c.lim_mem_mib < mem_limit:
            mem_limit = c.lim_mem_mib
    return Facts(req, _largest(req.effective_req_cpu_mcpu, req.effective_lim_cpu_mcpu),
                 _largest(req.effective_req_mem_mib, req.effective_lim_mem_mib), cpu, mem, mem_limit,
                 max(req.replicas, req.parallelism or 0))


def _all_gpu_free(f: Facts) -> bool:
    """Every container's image names known software that runs no GPU code (`app.workloads.software`)."""
    return all((sw := known(parse_image(c.image).name)) is not None and runs_no_gpu_code(sw)
               for c in f.req.containers)


@dataclass(frozen=True)
class Rule:
    """One plausibility check: `fires(facts)` is True when the spec cannot be an ordinary one."""

    reason: str
    fires: Callable[[Facts], bool]


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


def _nonsense_image(image: str) -> bool:
    ref = parse_image(image)
    return _nonsense_repository(ref.path, ref.name)


@functools.lru_cache(maxsize=8192)
def _nonsense_repository(path: str, name: str) -> bool:
    """Memoised by repository, not image: every release of an image has a new tag, and the tag is not read."""
    if not name or name == "scratch" or path.count("/") > 6:
        return True
    # `zzzz/qqqq`: no word in it (`httpd` is known software)
    return known(name) is None and len(name) >= 4 and not _VOWEL.search(path) and not any(ch.isdigit() for ch in name)


RULES: tuple[Rule, ...] = (
    Rule("CPU above 192 vCPU per pod (larger than ordinary nodes)", lambda f: f.cpu is not None and f.cpu > 192_000),
    Rule("CPU set below 1 millicore", lambda f: f.container_cpu < 1),
    Rule("memory above 4 TiB per pod (larger than ordinary nodes)",
         lambda f: f.mem is not None and f.mem > 4 * MIB_PER_TIB),
    Rule("memory set below 1 MiB (no runtime starts in it)", lambda f: f.container_mem < 1),
    Rule("a memory limit below 4 MiB (no container starts in it)", lambda f: f.container_mem_limit < 4),
    Rule("more CPU in total than a whole cluster has (replicas × CPU above 5,000 nodes × 192 vCPU)",
         lambda f: f.cpu is not None and f.pods * f.cpu > CLUSTER_NODES * NODE_VCPUS * 1000),
    Rule("more memory in total than a whole cluster has (replicas × memory above 5,000 nodes × 4 TiB)",
         lambda f: f.mem is not None and f.pods * f.mem > CLUSTER_NODES * NODE_MEM_TIB * MIB_PER_TIB),
    Rule("more GPUs in total than a whole cluster has (replicas × GPUs above 5,000 nodes × 16)",
         lambda f: f.pods * f.req.gpu_count > CLUSTER_NODES * NODE_GPUS),
    Rule("GPUs with more than 2 TiB of memory (no GPU node has more)",
         lambda f: f.req.gpu_count > 0 and f.mem is not None and f.mem > 2 * MIB_PER_TIB),
    Rule("more than 8 GPUs with more than 96 vCPU or 1,360 GB of memory (what 16-GPU nodes have)",
         lambda f: f.req.gpu_count > 8 and ((f.cpu or 0) > 96_000 or (f.mem or 0) > 1_360 * MIB_PER_GB)),
    Rule("GPUs for software that runs no GPU code (every container is a known cache, database, queue, web "
         "server, proxy, agent or shell)", lambda f: f.req.gpu_count > 0 and _all_gpu_free(f)),
    Rule("CPU and memory both set to zero", lambda f: f.cpu == 0 and f.mem == 0),
    Rule("more than 16 GPUs in one pod", lambda f: f.req.gpu_count > 16),
    Rule("GPUs driven by less than 100 millicores per GPU",
         lambda f: f.req.gpu_count > 0 and f.cpu is not None and f.cpu < 100 * f.req.gpu_count),
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
