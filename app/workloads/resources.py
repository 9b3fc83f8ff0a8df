"""Pod-level effective resources and QoS class, following Kubernetes' own rules.

Effective request (what the scheduler reserves), per resource, as in the kubelet's
`PodRequests`: the larger of
  * the sum over app containers plus every native sidecar (init container with
    `restartPolicy: Always`), and
  * for each plain init container, its own request plus the sidecars started before it,
then `spec.overhead` is added. A request left unset defaults to the container's limit, as the API
server defaults it. Effective limits follow the same formula but are `None` (unbounded) when
any container that runs alongside others has no limit for that resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

RESOURCES = ("cpu", "memory")


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container in base units: cpu in mcpu, memory in MiB."""

    requests: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)

    def request(self, name: str) -> float | None:
        """Request with Kubernetes' defaulting: an unset request takes the limit's value."""
        if name in self.requests:
            return self.requests[name]
        return self.limits.get(name)

    def limit(self, name: str) -> float | None:
        return self.limits.get(name)


@dataclass(frozen=True)
class PodResources:
    """Containers of a pod template split the way the scheduler sees them."""

    app: Sequence[Resources]
    init: Sequence[tuple[Resources, bool]] = ()
    """Init containers in order, each with `True` when it is a native sidecar."""
    overhead: dict[str, float] = field(default_factory=dict)


def _effective(pod: PodResources, name: str, pick: str) -> float | None:
    def value(res: Resources) -> float | None:
        return res.request(name) if pick == "request" else res.limit(name)

    unbounded = False
    sidecars_so_far = 0.0
    init_peak = 0.0
    for res, is_sidecar in pod.init:
        v = value(res)
        if is_sidecar:
            if v is None:
                unbounded = True
            sidecars_so_far += v or 0.0
        else:
            init_peak = max(init_peak, (v or 0.0) + sidecars_so_far)
    app_sum = 0.0
    for res in pod.app:
        v = value(res)
        if v is None:
            unbounded = True
        app_sum += v or 0.0
    if pick == "limit" and unbounded:
        return None
    total = max(app_sum + sidecars_so_far, init_peak)
    if pick == "request" and total == 0.0 and not _any_set(pod, name, "request"):
        return None
    return total + pod.overhead.get(name, 0.0)


def _any_set(pod: PodResources, name: str, pick: str) -> bool:
    containers = [*pod.app, *(r for r, _ in pod.init)]
    return any((c.request(name) if pick == "request" else c.limit(name)) is not None for c in containers)


def effective_requests(pod: PodResources) -> dict[str, float | None]:
    """Effective pod request per resource; `None` when no container requests it (and no overhead)."""
    out: dict[str, float | None] = {}
    for name in RESOURCES:
        v = _effective(pod, name, "request")
        if v is None and name in pod.overhead:
            v = pod.overhead[name]
        out[name] = v
    return out


def effective_limits(pod: PodResources) -> dict[str, float | None]:
    """Effective pod limit per resource; `None` when some container has no limit (unbounded)."""
    return {name: _effective(pod, name, "limit") for name in RESOURCES}


def qos_class(pod: PodResources) -> str:
    """Guaranteed / Burstable / BestEffort, by the rules in the Kubernetes QoS documentation.

    Guaranteed: every container (init included) has cpu and memory limits, and requests equal to
    them (an unset request defaults to the limit). BestEffort: no container sets any cpu or memory
    request or limit. Burstable: everything else.
    """
    containers = [*pod.app, *(r for r, _ in pod.init)]
    if not any(c.requests.get(n) is not None or c.limits.get(n) is not None for c in containers for n in RESOURCES):
        return "BestEffort"
    for c in containers:
        for n in RESOURCES:
            lim = c.limit(n)
            if lim is None or c.request(n) != lim:
                return "Burstable"
    return "Guaranteed"


class PodSummary(NamedTuple):
    """QoS class and effective resources of a pod (cpu in mcpu, memory in MiB; `None` as above)."""

    qos_class: str
    req_cpu: float | None
    req_mem: float | None
    lim_cpu: float | None
    lim_mem: float | None


ContainerRow = tuple[float | None, float | None, float | None, float | None]
"""One app container's (cpu request, memory request, cpu limit, memory limit); `None` when unset."""


def app_pod_summary(containers: Sequence[ContainerRow]) -> PodSummary:
    """`qos_class`, `effective_requests` and `effective_limits` of a pod of app containers only.

    The rules above specialised to no init containers and no overhead, in one pass over plain
    tuples: this runs for every JSON request the API serves in the plain containers form, where
    building `PodResources` cost more than the prediction's arithmetic. Sums run in container order
    from 0.0 as in `_effective`, so the floats are the same; a test compares both on every
    combination of unset, zero and set values.
    """
    req_cpu = req_mem = lim_cpu = lim_mem = 0.0
    req_cpu_set = req_mem_set = False
    lim_cpu_all = lim_mem_all = guaranteed = True
    # cpu and memory written out one after the other rather than looped over: the loop's tuples cost
    # more than the sums themselves
    for rc, rm, lc, lm in containers:
        eff = lc if rc is None else rc  # an unset request defaults to the limit
        if eff is not None:
            req_cpu_set = True
            req_cpu += eff
        if lc is None:
            lim_cpu_all = guaranteed = False
        else:
            lim_cpu += lc
            guaranteed = guaranteed and eff == lc
        eff = lm if rm is None else rm
        if eff is not None:
            req_mem_set = True
            req_mem += eff
        if lm is None:
            lim_mem_all = guaranteed = False
        else:
            lim_mem += lm
            guaranteed = guaranteed and eff == lm
    qos = "Guaranteed" if guaranteed and containers else "Burstable" if req_cpu_set or req_mem_set else "BestEffort"
    return PodSummary(
        qos,
        req_cpu if req_cpu_set else None,
        req_mem if req_mem_set else None,
        lim_cpu if lim_cpu_all else None,
        lim_mem if lim_mem_all else None,
    )
