"""AdmissionReview v1 requests built from real objects, as the API server sends them, and their patches applied.

Shared by the webhook tests and bench/bench_admission.py, so each states its property rather than the
AdmissionReview plumbing. The patch is applied with the `jsonpatch` library (RFC 6902), independent of
the code that builds it.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

from tests.conftest import EXAMPLES

RESOURCES = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets",
             "ReplicaSet": "replicasets", "Job": "jobs", "CronJob": "cronjobs", "Pod": "pods",
             "ConfigMap": "configmaps", "Service": "services", "Namespace": "namespaces"}


def review(obj: dict[str, Any] | None, *, operation: str = "CREATE", old: dict[str, Any] | None = None,
           dry_run: bool = False, uid: str | None = None, kind: dict[str, str] | None = None,
           namespace: str | None = None) -> dict[str, Any]:
    """The AdmissionReview the API server posts for `obj` (its group/version/kind taken from the object)."""
    source = obj if obj is not None else old or {}
    group, _, version = str(source.get("apiVersion", "v1")).rpartition("/")
    gvk = kind or {"group": group, "version": version, "kind": source.get("kind", "")}
    meta = source.get("metadata") or {}
    ns = namespace if namespace is not None else meta.get("namespace", "default")
    resource = {"group": gvk["group"], "version": gvk["version"], "resource": RESOURCES.get(gvk["kind"], "things")}
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": gvk,
        "resource": resource,
        "requestKind": gvk,
        "requestResource": resource,
        "name": meta.get("name", ""),
        "namespace": ns,
        "operation": operation,
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"kind": f"{operation.capitalize()}Options", "apiVersion": "meta.k8s.io/v1"},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def objects_in(path: Path) -> list[dict[str, Any]]:
    """Every object in a manifest file (a `kind: List` flattened), as plain dicts."""
    out: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(path.read_text()):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            out += [dict(item, apiVersion=item.get("apiVersion", "v1")) for item in doc["items"]]
        elif isinstance(doc, dict):
            out.append(doc)
    return out


def example_objects() -> list[tuple[str, dict[str, Any]]]:
    """(`file#index kind/name`, object) for every object in example/*.yaml."""
    out = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for i, obj in enumerate(objects_in(path)):
            out.append((f"{path.name}#{i} {obj['kind']}/{obj['metadata']['name']}", obj))
    return out


def patch_of(response: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The decoded JSON Patch of an AdmissionReview response (None when there is none)."""
    r = response["response"]
    if "patch" not in r:
        assert "patchType" not in r
        return None
    assert r["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(r["patch"], validate=True))  # type: ignore[no-any-return]


def patched(obj: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """`obj` after the response's patch, applied by `jsonpatch` to a copy (the original is not touched)."""
    ops = patch_of(response)
    return copy.deepcopy(obj) if ops is None else jsonpatch.apply_patch(obj, ops, in_place=False)
