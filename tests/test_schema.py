"""`InferenceRequest.spec_hash`: what it covers and what it ignores."""

from typing import Any

import pytest

from app.core.schema import ContainerSpec, InferenceRequest

BASE: dict[str, Any] = {
    "namespace": "shop", "workload_kind": "Deployment", "workload_name": "web", "replicas": 2,
    "labels": {"app": "web", "tier": "frontend"}, "annotations": {"note": "x"},
    "containers": [{"name": "web", "image": "nginx:1.27", "command": ["nginx"], "req_cpu_mcpu": 250,
                    "req_mem_mib": 128, "lim_mem_mib": 256},
                   {"name": "envoy", "image": "envoyproxy/envoy:v1.31.0", "req_cpu_mcpu": 100}],
}

# a different value for every hashed field of the request and of a container
CHANGED: dict[str, Any] = {
    "workload_kind": "StatefulSet", "init_container_count": 1, "sidecar_count": 1, "volume_types": ["emptyDir"],
    "node_type": "m5.large", "runtime_class": "gvisor", "gpu_count": 1, "parallelism": 2, "completions": 3,
    "schedule": "*/5 * * * *", "replicas": 3, "qos_class": "Guaranteed", "effective_req_cpu_mcpu": 1.0,
    "effective_req_mem_mib": 1.0, "effective_lim_cpu_mcpu": 1.0, "effective_lim_mem_mib": 1.0,
    "labels": {"app": "web", "tier": "backend"},
}
CONTAINER_CHANGED: dict[str, Any] = {
    "name": "www", "image": "nginx:1.28", "command": ["nginx", "-g"], "args": ["daemon off;"], "req_cpu_mcpu": 251,
    "req_mem_mib": 129, "lim_cpu_mcpu": 500, "lim_mem_mib": 257, "sidecar": True,
}


def req(**changes: Any) -> InferenceRequest:
    return InferenceRequest(**{**BASE, **changes})


def test_every_prediction_field_is_covered() -> None:
    """A field missing from these tables would be a field the hash was never checked against."""
    ignored = {"namespace", "workload_name", "annotations", "pod_spec", "containers", "schema_version"}
    assert set(InferenceRequest.model_fields) - ignored == set(CHANGED)
    assert set(ContainerSpec.model_fields) == set(CONTAINER_CHANGED)


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_hash_changes_with_each_field(field: str) -> None:
    assert req(**{field: CHANGED[field]}).spec_hash() != req().spec_hash()


@pytest.mark.parametrize("field", sorted(CONTAINER_CHANGED))
def test_hash_changes_with_each_container_field(field: str) -> None:
    containers = [{**BASE["containers"][0], field: CONTAINER_CHANGED[field]}, BASE["containers"][1]]
    assert req(containers=containers).spec_hash() != req().spec_hash()


def test_hash_ignores_identity_annotations_and_key_order() -> None:
    base = req().spec_hash()
    assert len(base) == 16 and int(base, 16) >= 0
    assert req(namespace="other", workload_name="api", annotations={}).spec_hash() == base
    assert req(labels={"tier": "frontend", "app": "web"}).spec_hash() == base
    reordered = [dict(reversed(list(c.items()))) for c in BASE["containers"]]
    assert req(containers=reordered).spec_hash() == base
    # the container order is part of the spec
    assert req(containers=BASE["containers"][::-1]).spec_hash() != base
    # a number given as an int or as a float is the same spec
    first = {**BASE["containers"][0], "req_cpu_mcpu": 250.0}
    assert req(containers=[first, BASE["containers"][1]]).spec_hash() == base
