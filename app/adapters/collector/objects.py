"""Typed views of watched objects, converted once at the boundary.

Everything downstream of this module (tracker, sinks, logs) reads `WatchedObject` attributes and
the `InferenceRequest`; nothing digs in raw Kubernetes dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import InputError
from app.core.schema import InferenceRequest
from app.workloads.convert import request_from_object


@dataclass(frozen=True)
class OwnerRef:
    kind: str
    name: str
    uid: str = ""
    controller: bool = False


@dataclass(frozen=True)
class WatchedObject:
    """Identity, version and ownership of one object, plus its request (or why it has none)."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""
    owners: tuple[OwnerRef, ...] = ()
    request: InferenceRequest | None = None
    error: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    nodes: int | None = None
    """A DaemonSet's `status.desiredNumberScheduled` (the nodes it runs on); None for other kinds."""

    @property
    def key(self) -> str:
        """The workload identity the collector tracks templates by: `Kind/namespace/name`."""
        return workload_key(self.kind, self.namespace, self.name)

    @property
    def controller(self) -> OwnerRef | None:
        """The owner with `controller: true`, if any (the object that manages this one)."""
        return next((o for o in self.owners if o.controller), None)

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def workload_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def raw_dict(obj: Any) -> dict[str, Any]:
    """A client model object (e.g. `V1Deployment`) or a plain dict → the JSON-shaped dict the API sends."""
    if isinstance(obj, Mapping):
        return dict(obj)
    from kubernetes.client import ApiClient

    out = ApiClient().sanitize_for_serialization(obj)
    if not isinstance(out, dict):
        raise TypeError(f"expected a Kubernetes object, got {type(obj).__name__}")
    return out


def _owners(meta: Mapping[str, Any]) -> tuple[OwnerRef, ...]:
    refs = meta.get("ownerReferences") or []
    return tuple(
        OwnerRef(str(r.get("kind", "")), str(r.get("name", "")), str(r.get("uid", "")), bool(r.get("controller")))
        for r in refs
        if isinstance(r, Mapping)
    )


def from_raw(obj: Any, kind: str, source: str = "<watch>", *, convert: bool = True) -> WatchedObject:
    """Build the typed view of one object of `kind`.

    List items come without `kind` (the API server only sets it on the list), so it is filled in
    from the kind being listed. A malformed workload does not raise: its `error` says why, so one
    bad object cannot stop a cluster-wide watch.
    """
    raw = raw_dict(obj)
    raw.setdefault("kind", kind)
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), Mapping) else {}
    labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else {}
    request = None
    error = None
    if convert:
        try:
            request = request_from_object(raw, source)
        except InputError as exc:
            error = str(exc)
    return WatchedObject(
        kind=kind,
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
        owners=_owners(meta),
        request=request,
        error=error,
        labels={str(k): str(v) for k, v in labels.items()},
        nodes=_desired_nodes(raw) if kind == "DaemonSet" else None,
    )


def _desired_nodes(raw: Mapping[str, Any]) -> int | None:
    status = raw.get("status")
    value = status.get("desiredNumberScheduled") if isinstance(status, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
