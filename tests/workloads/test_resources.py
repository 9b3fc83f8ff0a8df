"""Effective pod resources and QoS, by the rules of the Kubernetes docs (hand-computed expectations)."""

import pytest

from app.workloads.convert import request_from_object
from app.workloads.resources import PodResources, Resources, effective_limits, effective_requests, qos_class


def res(cpu: float | None = None, mem: float | None = None, lcpu: float | None = None,
        lmem: float | None = None) -> Resources:
    req = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v is not None}
    lim = {k: v for k, v in (("cpu", lcpu), ("memory", lmem)) if v is not None}
    return Resources(req, lim)


def test_sum_of_app_containers() -> None:
    pod = PodResources(app=[res(100, 64), res(250, 128)])
    assert effective_requests(pod) == {"cpu": 350, "memory": 192}


def test_init_container_larger_than_app_wins() -> None:
    pod = PodResources(app=[res(100, 64)], init=[(res(2000, 1024), False)])
    assert effective_requests(pod) == {"cpu": 2000, "memory": 1024}


def test_native_sidecars_add_to_app_and_to_later_init_containers() -> None:
    # sidecar (300m) starts first, then an init container (500m) runs beside it: 800m peak;
    # steady state: app 400m + sidecar 300m = 700m → effective 800m.
    pod = PodResources(app=[res(400, 100)], init=[(res(300, 50), True), (res(500, 10), False)])
    assert effective_requests(pod) == {"cpu": 800, "memory": 150}


def test_sidecar_after_init_does_not_add_to_it() -> None:
    pod = PodResources(app=[res(400, 100)], init=[(res(500, 10), False), (res(300, 50), True)])
    assert effective_requests(pod) == {"cpu": 700, "memory": 150}


def test_overhead_is_added() -> None:
    pod = PodResources(app=[res(500, 256, 500, 256)], overhead={"cpu": 250, "memory": 160})
    assert effective_requests(pod) == {"cpu": 750, "memory": 416}
    assert effective_limits(pod) == {"cpu": 750, "memory": 416}


def test_request_defaults_to_limit_and_missing_limit_is_unbounded() -> None:
    pod = PodResources(app=[res(lcpu=1000, lmem=512), res(cpu=100)])
    assert effective_requests(pod) == {"cpu": 1100, "memory": 512}
    assert effective_limits(pod) == {"cpu": None, "memory": None}


def test_nothing_set_is_none_not_zero() -> None:
    pod = PodResources(app=[res()])
    assert effective_requests(pod) == {"cpu": None, "memory": None}


@pytest.mark.parametrize(
    ("containers", "init", "expected"),
    [
        ([res()], [], "BestEffort"),
        ([res(100, 64, 100, 64)], [], "Guaranteed"),
        ([res(lcpu=100, lmem=64)], [], "Guaranteed"),  # requests default to limits
        ([res(100, 64, 200, 64)], [], "Burstable"),
        ([res(100, 64, 100, 64), res()], [], "Burstable"),
        ([res(100, 64, 100, 64)], [(res(50), False)], "Burstable"),
        ([res(mem=64)], [], "Burstable"),
    ],
)
def test_qos(containers: list[Resources], init: list[tuple[Resources, bool]], expected: str) -> None:
    assert qos_class(PodResources(app=containers, init=init)) == expected


POD_SPEC = {
    "initContainers": [
        {"name": "migrate", "image": "m", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
        {"name": "proxy", "image": "p", "restartPolicy": "Always",
         "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
    ],
    "containers": [{"name": "app", "image": "a", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}],
}


def _wrap(kind: str) -> dict:
    meta = {"name": "w", "namespace": "ns"}
    template = {"metadata": {"labels": {"a": "b"}}, "spec": POD_SPEC}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": POD_SPEC}
    if kind == "CronJob":
        return {"kind": kind, "metadata": meta,
                "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"parallelism": 3, "template": template}}}}
    if kind == "Job":
        return {"kind": kind, "metadata": meta, "spec": {"parallelism": 2, "template": template}}
    return {"kind": kind, "metadata": meta, "spec": {"replicas": 4, "template": template}}


@pytest.mark.parametrize(
    ("kind", "replicas"),
    [("Deployment", 4), ("StatefulSet", 4), ("ReplicaSet", 4), ("ReplicationController", 4),
     ("DaemonSet", 1), ("Job", 2), ("CronJob", 3), ("Pod", 1)],
)
def test_effective_resources_for_every_kind(kind: str, replicas: int) -> None:
    req = request_from_object(_wrap(kind))
    # init 2000m/1024Mi vs app 500m + sidecar 100m (sidecar started after the init container)
    assert req.effective_req_cpu_mcpu == 2000
    assert req.effective_req_mem_mib == 1024
    assert req.effective_lim_cpu_mcpu is None
    assert req.replicas == replicas
    assert req.init_container_count == 1
    assert req.sidecar_count == 1
    assert [c.name for c in req.containers] == ["app", "proxy"]
    assert req.qos_class == "Burstable"


VALUES = (None, 0.0, 250.0, 500.0)


@pytest.mark.parametrize("n_containers", [1, 2])
def test_app_pod_summary_matches_general_rules(n_containers: int) -> None:
    """The one-pass app-only summary (the API's path) equals the general functions, everywhere."""
    import itertools

    from app.workloads.resources import app_pod_summary

    one = list(itertools.product(VALUES, repeat=4))
    checked = 0
    for combo in itertools.product(one, repeat=n_containers):
        pod = PodResources(app=[res(*c) for c in combo])
        got = app_pod_summary(combo)
        reqs, lims = effective_requests(pod), effective_limits(pod)
        # repr: the same floats, down to the sign of a zero (the spec hash would see it)
        assert repr((got.qos_class, got.req_cpu, got.req_mem, got.lim_cpu, got.lim_mem)) == repr(
            (qos_class(pod), reqs["cpu"], reqs["memory"], lims["cpu"], lims["memory"])), combo
        checked += 1
    assert checked == len(VALUES) ** (4 * n_containers)


def test_app_pod_summary_three_containers_sampled() -> None:
    import random

    from app.workloads.resources import app_pod_summary

    rng = random.Random(5)
    pool = (None, 0.0, -0.0, 1.0, 100.0, 100.5, 1e300)
    for _ in range(3000):
        combo = [tuple(rng.choice(pool) for _ in range(4)) for _ in range(3)]
        pod = PodResources(app=[res(*c) for c in combo])
        got = app_pod_summary(combo)  # type: ignore[arg-type]
        reqs, lims = effective_requests(pod), effective_limits(pod)
        # repr: the same floats, down to the sign of a zero (the spec hash would see it)
        assert repr((got.qos_class, got.req_cpu, got.req_mem, got.lim_cpu, got.lim_mem)) == repr(
            (qos_class(pod), reqs["cpu"], reqs["memory"], lims["cpu"], lims["memory"])), combo
