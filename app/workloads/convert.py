"""Kubernetes objects → `InferenceRequest`.

This module is the boundary: it is the only code that reads raw Kubernetes dicts. It accepts
what users paste or pipe — a bare manifest, `kubectl get -o yaml` output (status,
managedFields, resourceVersion, ownerReferences are simply ignored), multi-document YAML and
`kind: List` — and returns typed requests. Non-workload objects are skipped with a reason;
malformed workloads raise `InputError` naming the document and the field.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from app.core.errors import InputError
from app.core.kinds import KINDS, WORKLOAD_KINDS
from app.core.schema import (
    MAX_EXACT_INT,
    ContainerSpec,
    ConversionResult,
    InferenceRequest,
    SkippedDocument,
    check_numbers,
    out_of_range,
)
from app.workloads.quantities import QuantityError, cpu_to_mcpu, memory_to_mib
from app.workloads.resources import (
    PodResources,
    Resources,
    app_pod_summary,
    effective_limits,
    effective_requests,
    qos_class,
)
from app.workloads.schedule import runs_per_day
from app.workloads.yamlload import YamlLimits, load_documents

MAX_INT32 = 2**31 - 1
"""Replicas, parallelism and completions are int32 in the Kubernetes API: the API server refuses more."""
INSTANCE_TYPE_KEYS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
GPU_PREFIXES = ("gpu.intel.com/",)
LIST_KINDS = {"List", "DeploymentList", "PodList", "JobList", "CronJobList", "StatefulSetList", "DaemonSetList",
              "ReplicaSetList", "ReplicationControllerList"}
class _Ctx:
    """Where we are, so every error names source, document, object and field."""

    def __init__(self, source: str, document: int | None, what: str | None = None) -> None:
        self.source = source
        self.document = document
        self.what = what

    def error(self, field: str, message: str) -> InputError:
        return InputError(message, source=self.source, document=self.document, what=self.what, field=field)

    def out_of_range(self, field: str, value: Any) -> InputError:
        """`app.core.schema.out_of_range`'s message, at the manifest's own field."""
        return out_of_range(value, self.source, field, self.document, self.what)


def _mapping(value: Any, ctx: _Ctx, field: str, *, required: bool = True) -> Mapping[str, Any]:
    if value.__class__ is dict:  # what YAML and JSON give: no abstract-class check (which costs more)
        return value  # type: ignore[no-any-return]
    if value is None:
        if required:
            raise ctx.error(field, "required field is missing")
        return {}
    if not isinstance(value, Mapping):
        raise ctx.error(field, f"expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, ctx: _Ctx, field: str) -> Sequence[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ctx.error(field, f"expected a list, got {type(value).__name__}")
    return value


def _int(value: Any, ctx: _Ctx, field: str, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ctx.error(field, f"expected a non-negative integer, got {_show(value)}")
    if value > MAX_INT32:
        raise ctx.error(field, f"{_show(value)} is more than Kubernetes allows here (int32: at most {MAX_INT32})")
    return value


def _show(value: Any, limit: int = 40) -> str:
    """`repr(value)` cut to `limit` characters: error messages stay one short line whatever was sent."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _str(value: Any, ctx: _Ctx, field: str, *, required: bool = False) -> str | None:
    """A field Kubernetes types as a string (kind, apiVersion, names): anything else is an error naming it."""
    if value is None or value == "":
        if required:
            raise ctx.error(field, "required field is missing")
        return None
    if not isinstance(value, str):
        raise ctx.error(field, f"expected a string, got {type(value).__name__} {_show(value)}")
    return value


def _scalar(value: Any, ctx: _Ctx, field: str) -> str:
    """A string-valued field written as a plain YAML scalar (`version: 1.2` is read as the text "1.2",
    `enabled: true` as "true", an unquoted date as its ISO text); anything else (a list, a mapping, `!!binary`
    bytes, a `!!set`) is an error naming the field: its text would not be what the user wrote."""
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | datetime.date):
        return str(value)
    raise ctx.error(field, f"expected a string, got {type(value).__name__} {_show(value)}")


def _str_map(value: Any, ctx: _Ctx, field: str) -> dict[str, str]:
    return {str(k): _scalar(v, ctx, f"{field}.{k}") for k, v in _mapping(value, ctx, field, required=False).items()}


def _str_list(value: Any, ctx: _Ctx, field: str) -> list[str]:
    return [_scalar(v, ctx, f"{field}[{i}]") for i, v in enumerate(_list(value, ctx, field))]


def _resources(raw: Mapping[str, Any], ctx: _Ctx, field: str) -> tuple[Resources, int]:
    """Parse one container's `resources`; returns cpu (mcpu) / memory (MiB) and its GPU count."""
    res = _mapping(raw.get("resources"), ctx, f"{field}.resources", required=False)
    parsed: dict[str, dict[str, float]] = {"requests": {}, "limits": {}}
    gpus = {"requests": 0, "limits": 0}
    for section in ("requests", "limits"):
        values = _mapping(res.get(section), ctx, f"{field}.resources.{section}", required=False)
        for name, qty in values.items():
            where = f"{field}.resources.{section}.{name}"
            try:
                if name == "cpu":
                    value = parsed[section]["cpu"] = cpu_to_mcpu(qty)
                elif name == "memory":
                    value = parsed[section]["memory"] = memory_to_mib(qty)
                elif name in GPU_RESOURCES or str(name).startswith(GPU_PREFIXES):
                    value = cpu_to_mcpu(qty) // 1000
                    gpus[section] += int(value) if value <= MAX_EXACT_INT else 0
                else:
                    value = 0.0
                    cpu_to_mcpu(qty)  # still a quantity: reject garbage early
            except QuantityError as exc:
                raise ctx.error(where, str(exc)) from None
            if value > MAX_EXACT_INT:
                raise ctx.out_of_range(where, qty)
    return Resources(parsed["requests"], parsed["limits"]), max(gpus["requests"], gpus["limits"])


_CONTAINER_FIELDS = {"req_cpu_mcpu": "resources.requests.cpu", "req_mem_mib": "resources.requests.memory",
                     "lim_cpu_mcpu": "resources.limits.cpu", "lim_mem_mib": "resources.limits.memory"}
"""`ContainerSpec` fields that a manifest spells differently; the others have the manifest's own names."""


def _container(raw: Any, ctx: _Ctx, field: str, *, sidecar: bool) -> tuple[ContainerSpec, Resources, int]:
    c = _mapping(raw, ctx, field)
    name = _str(c.get("name"), ctx, f"{field}.name", required=True)
    res, gpus = _resources(c, ctx, field)
    try:
        spec = ContainerSpec(
            name=name,
            image=_scalar(c.get("image"), ctx, f"{field}.image"),
            command=_str_list(c.get("command"), ctx, f"{field}.command"),
            args=_str_list(c.get("args"), ctx, f"{field}.args"),
            req_cpu_mcpu=res.requests.get("cpu"),
            req_mem_mib=res.requests.get("memory"),
            lim_cpu_mcpu=res.limits.get("cpu"),
            lim_mem_mib=res.limits.get("memory"),
            sidecar=sidecar,
        )
    except ValidationError as exc:  # the schema's bounds (name, image length, how many args)
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        path = _CONTAINER_FIELDS.get(loc[0], loc[0]) + "".join(f"[{p}]" for p in loc[1:]) if loc else ""
        raise ctx.error(f"{field}.{path}" if path else field, err["msg"]) from None
    return spec, res, gpus


def _node_type(spec: Mapping[str, Any], ctx: _Ctx, field: str) -> str | None:
    selector = _mapping(spec.get("nodeSelector"), ctx, f"{field}.nodeSelector", required=False)
    for key in INSTANCE_TYPE_KEYS:
        if selector.get(key):
            return _scalar(selector[key], ctx, f"{field}.nodeSelector.{key}")
    affinity = _mapping(spec.get("affinity"), ctx, f"{field}.affinity", required=False)
    node_aff = _mapping(affinity.get("nodeAffinity"), ctx, f"{field}.affinity.nodeAffinity", required=False)
    required = _mapping(
        node_aff.get("requiredDuringSchedulingIgnoredDuringExecution"), ctx, f"{field}.affinity", required=False
    )
    for term in _list(required.get("nodeSelectorTerms"), ctx, f"{field}.affinity.nodeSelectorTerms"):
        if not isinstance(term, Mapping):
            continue
        for expr in _list(term.get("matchExpressions"), ctx, f"{field}.affinity.matchExpressions"):
            if (
                isinstance(expr, Mapping)
                and expr.get("key") in INSTANCE_TYPE_KEYS
                and expr.get("operator") == "In"
                and expr.get("values")
            ):
                values = _list(expr["values"], ctx, f"{field}.affinity.matchExpressions.values")
                return _scalar(values[0], ctx, f"{field}.affinity.matchExpressions.values[0]")
    return None


def pod_spec_fields(raw_spec: Any, ctx: _Ctx | None = None, field: str = "spec") -> dict[str, Any]:
    """Everything an `InferenceRequest` takes from a PodSpec (containers, counts, derived resources)."""
    ctx = ctx or _Ctx("<request>", None)
    spec = _mapping(raw_spec, ctx, field)
    raw_containers = _list(spec.get("containers"), ctx, f"{field}.containers")
    if not raw_containers:
        raise ctx.error(f"{field}.containers", "a pod needs at least one container")
    app: list[ContainerSpec] = []
    app_res: list[Resources] = []
    gpu_app = 0
    for i, raw in enumerate(raw_containers):
        c, res, gpus = _container(raw, ctx, f"{field}.containers[{i}]", sidecar=False)
        app.append(c)
        app_res.append(res)
        gpu_app += gpus
    sidecars: list[ContainerSpec] = []
    init: list[tuple[Resources, bool]] = []
    gpu_init = 0
    for i, raw in enumerate(_list(spec.get("initContainers"), ctx, f"{field}.initContainers")):
        is_sidecar = isinstance(raw, Mapping) and raw.get("restartPolicy") == "Always"
        c, res, gpus = _container(raw, ctx, f"{field}.initContainers[{i}]", sidecar=is_sidecar)
        init.append((res, is_sidecar))
        if is_sidecar:
            sidecars.append(c)
            gpu_app += gpus
        else:
            gpu_init = max(gpu_init, gpus)
    overhead: dict[str, float] = {}
    for name, qty in _mapping(spec.get("overhead"), ctx, f"{field}.overhead", required=False).items():
        try:
            if name == "cpu":
                overhead["cpu"] = cpu_to_mcpu(qty)
            elif name == "memory":
                overhead["memory"] = memory_to_mib(qty)
        except QuantityError as exc:
            raise ctx.error(f"{field}.overhead.{name}", str(exc)) from None
        if overhead.get(name, 0.0) > MAX_EXACT_INT:
            raise ctx.out_of_range(f"{field}.overhead.{name}", qty)
    pod = PodResources(app=app_res, init=init, overhead=overhead)
    req = effective_requests(pod)
    lim = effective_limits(pod)
    volume_types = sorted(
        {
            next((k for k in v if k != "name"), "unknown")
            for v in _list(spec.get("volumes"), ctx, f"{field}.volumes")
            if isinstance(v, Mapping)
        }
    )
    runtime = _str(spec.get("runtimeClassName"), ctx, f"{field}.runtimeClassName")
    return {
        "containers": [*app, *sidecars],
        "init_container_count": sum(1 for _, s in init if not s),
        "sidecar_count": len(sidecars) + len(app) - 1,
        "volume_types": volume_types,
        "node_type": _node_type(spec, ctx, field),
        "runtime_class": runtime,
        "gpu_count": max(gpu_app, gpu_init),
        "qos_class": qos_class(pod),
        "effective_req_cpu_mcpu": req["cpu"],
        "effective_req_mem_mib": req["memory"],
        "effective_lim_cpu_mcpu": lim["cpu"],
        "effective_lim_mem_mib": lim["memory"],
    }


def _dig(obj: Mapping[str, Any], path: tuple[str, ...], ctx: _Ctx) -> Mapping[str, Any]:
    node: Any = obj
    for depth, key in enumerate(path):
        node = _mapping(node.get(key) if isinstance(node, Mapping) else None, ctx, ".".join(path[: depth + 1]))
    return node


def request_from_object(obj: Any, source: str = "<input>", document: int | None = None) -> InferenceRequest:
    """Convert one workload object. Raises `InputError` for malformed input and for non-workload kinds."""
    ctx = _Ctx(source, document)
    body = _mapping(obj, ctx, "<document>")
    _str(body.get("apiVersion"), ctx, "apiVersion")
    kind = _str(body.get("kind"), ctx, "kind")
    if kind not in WORKLOAD_KINDS:
        raise ctx.error("kind", f"unsupported kind {kind!r}; expected one of {', '.join(WORKLOAD_KINDS)}")
    info = KINDS[kind]
    meta = _mapping(body.get("metadata"), ctx, "metadata")
    name = _str(meta.get("name"), ctx, "metadata.name", required=True)
    namespace = _str(meta.get("namespace"), ctx, "metadata.namespace") or "default"
    ctx.what = f"{kind} {namespace}/{name}"
    spec = _mapping(body.get("spec"), ctx, "spec")

    parallelism = completions = None
    schedule = None
    if not info.template:
        pod_spec_path = "spec"
        pod_spec: Any = spec
        template_meta: Mapping[str, Any] = meta
        replicas = 1
    else:
        template = _dig(body, info.template, ctx)
        pod_spec_path = ".".join((*info.template, "spec"))
        pod_spec = template.get("spec")
        template_meta = _mapping(template.get("metadata"), ctx, ".".join((*info.template, "metadata")),
                                 required=False)
        if info.replicas == "parallelism":
            job_path = info.template[:-1]  # the Job spec holding the template
            job_spec = _dig(body, job_path, ctx)
            prefix = ".".join(job_path)
            parallelism = _int(job_spec.get("parallelism"), ctx, f"{prefix}.parallelism", 1)
            completions = _int(job_spec.get("completions"), ctx, f"{prefix}.completions", None)
            replicas = parallelism if parallelism is not None else 1
            if completions is not None:
                replicas = min(replicas, completions) if completions else replicas
            if kind == "CronJob":
                schedule = _scalar(spec.get("schedule"), ctx, "spec.schedule") or None
                try:
                    runs_per_day(schedule or "@daily")  # read now: a bad one names its document
                except ValueError as exc:
                    why = f"cannot read the CronJob schedule {_show(schedule)}: {exc}"
                    raise ctx.error("spec.schedule", why) from None
        elif info.replicas in ("one", "one-per-node"):
            replicas = 1
        else:
            replicas = _int(spec.get("replicas"), ctx, "spec.replicas", 1) or 0
    fields = pod_spec_fields(pod_spec, ctx, pod_spec_path)
    template_labels = ".".join((*info.template, "metadata", "labels")) if info.template else "metadata.labels"
    labels = {**_str_map(meta.get("labels"), ctx, "metadata.labels"),
              **_str_map(template_meta.get("labels"), ctx, template_labels)}
    annotations = _str_map(meta.get("annotations"), ctx, "metadata.annotations")
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    # where each request field comes from in the manifest, for the schema's errors
    job = ".".join(info.template[:-1]) if info.replicas == "parallelism" else ""
    origin = {"namespace": "metadata.namespace", "workload_name": "metadata.name", "labels": template_labels,
              "annotations": "metadata.annotations", "schedule": "spec.schedule",
              "parallelism": f"{job}.parallelism", "completions": f"{job}.completions",
              "replicas": f"{job}.parallelism" if job else "spec.replicas"}
    try:
        req = InferenceRequest(
            namespace=namespace,
            workload_kind=kind,
            workload_name=name,
            labels=labels,
            annotations=annotations,
            parallelism=parallelism,
            completions=completions,
            schedule=schedule,
            replicas=replicas,
            **fields,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        field = ".".join([origin.get(loc[0], f"{pod_spec_path} ({loc[0]})"), *loc[1:]]) if loc else "<document>"
        raise ctx.error(field, err["msg"]) from None
    check_numbers(req, ctx.source, ctx.document)  # sums (effective_*) of fields checked one by one above
    return req


def complete_request(req: InferenceRequest, source: str = "<request>") -> InferenceRequest:
    """Fill in what a JSON request left out: convert `pod_spec`, derive QoS and effective resources.

    Requests in the plain v1 shape only list app containers, so their effective resources are the
    sums over those containers (init containers are not known there).
    """
    if req.pod_spec is not None:
        fields = pod_spec_fields(req.pod_spec, _Ctx(source, None, f"{req.workload_kind} "
                                                     f"{req.namespace}/{req.workload_name}"), "pod_spec")
        data = req.model_dump(exclude={"pod_spec"}, exclude_unset=True)
        for key in list(fields):
            if key in data and key not in ("containers",):
                fields.pop(key)  # explicit values win over derived ones
        return InferenceRequest(**{**data, **fields})
    if req.qos_class is not None and req.effective_req_cpu_mcpu is not None and req.effective_req_mem_mib is not None:
        return req
    pod = app_pod_summary([(c.req_cpu_mcpu, c.req_mem_mib, c.lim_cpu_mcpu, c.lim_mem_mib) for c in req.containers])
    update: dict[str, Any] = {}
    if req.qos_class is None:
        update["qos_class"] = pod.qos_class
    if req.effective_req_cpu_mcpu is None:
        update["effective_req_cpu_mcpu"] = pod.req_cpu
    if req.effective_req_mem_mib is None:
        update["effective_req_mem_mib"] = pod.req_mem
    if req.effective_lim_cpu_mcpu is None:
        update["effective_lim_cpu_mcpu"] = pod.lim_cpu
    if req.effective_lim_mem_mib is None:
        update["effective_lim_mem_mib"] = pod.lim_mem
    return _updated(req, update)


_set = object.__setattr__


def _updated(req: InferenceRequest, update: dict[str, Any]) -> InferenceRequest:
    """`req.model_copy(update=update)` for values already valid, in four attribute writes.

    This is pydantic's own shallow copy (`BaseModel.__copy__`) for a model with no extra fields
    and no private attributes, as `InferenceRequest` is; the generic version costs about a twentieth
    of a /predict request. A test compares both on every attribute pydantic keeps.
    """
    new = InferenceRequest.__new__(InferenceRequest)
    _set(new, "__dict__", {**req.__dict__, **update})
    _set(new, "__pydantic_fields_set__", req.__pydantic_fields_set__ | update.keys())
    _set(new, "__pydantic_extra__", None)
    _set(new, "__pydantic_private__", None)
    return new


def _items(doc: Any, index: int) -> Iterable[tuple[int, Any]]:
    kind = doc.get("kind") if isinstance(doc, Mapping) else None
    if isinstance(kind, str) and kind in LIST_KINDS and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield index, item
    else:
        yield index, doc


def requests_from_objects(docs: Iterable[Any], source: str = "<input>") -> ConversionResult:
    """Convert a stream of parsed documents (Lists flattened); non-workloads are skipped, not errors."""
    requests: list[InferenceRequest] = []
    skipped: list[SkippedDocument] = []
    position = 0
    for doc_index, doc in enumerate(docs, start=1):
        for _, item in _items(doc, doc_index):
            position += 1
            if item is None:
                continue  # an empty document (`---` at the end) is not an object
            if not isinstance(item, Mapping):
                raise InputError(f"expected a Kubernetes object (a mapping), got {type(item).__name__}",
                                 source=source, document=position)
            kind = _str(item.get("kind"), _Ctx(source, position), "kind")
            meta = item.get("metadata") if isinstance(item.get("metadata"), Mapping) else {}
            if kind not in WORKLOAD_KINDS:
                reason = "no `kind` field" if kind is None else f"{kind} is not a workload"
                name = meta.get("name")
                skipped.append(SkippedDocument(document=position, kind=kind,
                                               name=name if isinstance(name, str) else None, reason=reason))
                continue
            requests.append(request_from_object(item, source, position))
    return ConversionResult(source=source, requests=requests, skipped=skipped)


def nothing_to_predict(result: ConversionResult) -> InputError:
    """The error for an input with no workload in it: what was skipped and why, or that it held no object.
    One message for the CLI and the API."""
    if result.skipped:
        why = "; ".join(f"document {s.document}: {s.reason}" for s in result.skipped[:5])
        return InputError(f"no workload to predict for ({why})", source=result.source)
    return InputError("no Kubernetes object in the YAML", source=result.source)


def requests_from_yaml(text: str, source: str = "<input>", limits: YamlLimits | None = None) -> ConversionResult:
    """Parse YAML (one or many documents, or a `kind: List`) and convert every workload in it."""
    return requests_from_objects(load_documents(text, source, limits), source)
