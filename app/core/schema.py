"""Typed data that crosses the project's boundaries (pydantic v2, no I/O).

Every other layer speaks these types: converters produce `InferenceRequest`, the predictor
returns `Prediction`, the API serialises both. Units are part of the field names or stated in
the descriptions: mcpu = millicores (1000 mcpu = 1 vCPU), MiB = 2^20 bytes, W = watts, J = joules.

`null` is read as "not set" wherever the original k8sPodPCP v1 schema (MSKazemi/k8sPodPCP,
app/models.py) allowed it, because its collector writes `"command": null`, `"args": null`, null
resources, `node_type`, `runtime_class`, `parallelism` and `completions`: optional scalars stay None,
list and map fields (`command`, `args`, `labels`, `annotations`, `volume_types`) become empty. The
internal form therefore never holds a null collection, and a request with nulls validates to the
same object (same spec hash, same prediction) as the request with those keys left out.

Request numbers and booleans are strict (`strict=True`): what the OpenAPI schema says is what is
accepted, so JSON `false` is not the number 0, `"100"` is not a number and `1.0` is not an integer.
"""

from __future__ import annotations

import hashlib
import operator
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from app.core.errors import InputError
from app.core.kinds import WORKLOAD_KINDS

SCHEMA_VERSION = "v1"
STEP_SECONDS = 60
"""Length of the label step: `energy_step_j` is joules per pod per 60 s."""
POWER_TARGETS: dict[str, float] = {"avg_power_w": 1.0, "energy_step_j": 1.0 / STEP_SECONDS}
"""Label columns a model can be trained on, and the factor that turns each into watts."""

WorkloadKind = Literal[WORKLOAD_KINDS]  # type: ignore[valid-type]  # the enum of app.core.kinds' table
QosClass = Literal["Guaranteed", "Burstable", "BestEffort"]
HoursBasis = Literal["horizon", "per-run", "schedule"]


def _null_to_empty_list(value: Any) -> Any:
    return [] if value is None else value


def _null_to_empty_dict(value: Any) -> Any:
    return {} if value is None else value


# Run inside pydantic-core's validator, so `model_validate_json` (the /predict fast path, NDJSON
# files) normalises exactly as `model_validate` does. The JSON schema stays the plain array/object
# (one OpenAPI component for input and output; a nullable input type would split it in two): the
# descriptions say that null is read as empty.
StrList = Annotated[list[str], BeforeValidator(_null_to_empty_list)]
"""A list of strings where `null` means empty (v1 collectors wrote null for an unset command/args)."""
StrMap = Annotated[dict[str, str], BeforeValidator(_null_to_empty_dict)]
"""A string map where `null` means empty."""
_NULL_EMPTY = " `null` is read as empty."


class ContainerSpec(BaseModel):
    """One container of the pod template, resources as written in the manifest (unset = None)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=253)
    image: str = Field(default="", max_length=1024, description="Image reference, e.g. `nginx:1.27`.")
    command: StrList = Field(default_factory=list, max_length=256, description="Entrypoint." + _NULL_EMPTY)
    args: StrList = Field(default_factory=list, max_length=256, description="Arguments." + _NULL_EMPTY)
    req_cpu_mcpu: float | None = Field(default=None, ge=0, strict=True,
                                       description="CPU request in millicores (mcpu).")
    req_mem_mib: float | None = Field(default=None, ge=0, strict=True,
                                      description="Memory request in MiB (2^20 bytes).")
    lim_cpu_mcpu: float | None = Field(default=None, ge=0, strict=True,
                                       description="CPU limit in millicores (mcpu).")
    lim_mem_mib: float | None = Field(default=None, ge=0, strict=True,
                                      description="Memory limit in MiB (2^20 bytes).")
    sidecar: bool = Field(
        default=False, strict=True,
        description="True for a native sidecar (init container with `restartPolicy: Always`)."
    )


class InferenceRequest(BaseModel):
    """A workload's pod template reduced to what drives its power; the v1 request shape plus derived fields.

    Either `containers` or `pod_spec` (a raw Kubernetes PodSpec, converted by the server) is required.
    Derived fields (`qos_class`, `effective_*`) are filled in by the converter when left out.
    """

    # `_needs_containers` in the schema's own terms, so that what the schema allows is what is accepted
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["containers"], "properties": {"containers": {"minItems": 1}}},
        {"required": ["pod_spec"], "properties": {"pod_spec": {
            "type": "object", "required": ["containers"],
            "properties": {"containers": {"type": "array", "minItems": 1}}}}},
    ]})

    schema_version: Literal["v1"] = SCHEMA_VERSION
    namespace: str = Field(default="default", min_length=1, max_length=253)
    workload_kind: WorkloadKind
    workload_name: str = Field(min_length=1, max_length=253)
    labels: StrMap = Field(default_factory=dict, description="Pod template labels." + _NULL_EMPTY)
    annotations: StrMap = Field(default_factory=dict, description="Pod template annotations." + _NULL_EMPTY)
    containers: list[ContainerSpec] = Field(
        default_factory=list, max_length=128, description="App containers, then native sidecars."
    )
    init_container_count: int = Field(
        default=0, ge=0, strict=True, description="Plain init containers (run to completion)."
    )
    sidecar_count: int = Field(
        default=0,
        ge=0,
        strict=True,
        description="Containers beside the main one: native sidecars + app containers after the first.",
    )
    volume_types: StrList = Field(default_factory=list,
                                  description="Volume sources, e.g. `emptyDir`, `configMap`." + _NULL_EMPTY)
    node_type: str | None = Field(default=None, description="Instance type from nodeSelector / node affinity.")
    runtime_class: str | None = None
    gpu_count: int = Field(
        default=0, ge=0, strict=True, description="GPUs per pod (nvidia.com/gpu, amd.com/gpu, gpu.intel.com/*)."
    )
    parallelism: int | None = Field(default=None, ge=0, strict=True, description="Job parallelism (Jobs and CronJobs).")
    completions: int | None = Field(default=None, ge=0, strict=True, description="Job completions (Jobs and CronJobs).")
    schedule: str | None = Field(default=None, description="CronJob schedule (cron syntax).")
    replicas: int = Field(
        default=1,
        ge=0,
        strict=True,
        description="Pods running at once: spec.replicas (default 1); Job/CronJob parallelism; 1 for a Pod; "
        "1 per node for a DaemonSet.",
    )
    qos_class: QosClass | None = Field(default=None, description="Kubernetes QoS class, derived when not given.")
    effective_req_cpu_mcpu: float | None = Field(
        default=None, ge=0, strict=True,
        description="Pod-level effective CPU request in millicores, as the scheduler computes it."
    )
    effective_req_mem_mib: float | None = Field(
        default=None, ge=0, strict=True, description="Pod-level effective memory request in MiB (2^20 bytes)."
    )
    effective_lim_cpu_mcpu: float | None = Field(
        default=None,
        ge=0,
        strict=True,
        description="Pod-level effective CPU limit in millicores; null when any container is unbounded.",
    )
    effective_lim_mem_mib: float | None = Field(
        default=None, ge=0, strict=True,
        description="Pod-level effective memory limit in MiB; null when any container is unbounded."
    )
    pod_spec: dict[str, Any] | None = Field(
        default=None, description="A raw Kubernetes PodSpec; when given, the server derives the fields above from it."
    )

    @model_validator(mode="after")
    def _needs_containers(self) -> InferenceRequest:
        if not self.containers and self.pod_spec is None:
            raise ValueError("give `containers` (at least one) or `pod_spec`")
        return self

    @property
    def workload_key(self) -> tuple[str, str, str]:
        """Canonical workload identity used to group rows and join features with labels."""
        return (self.namespace, self.workload_kind, self.workload_name)

    def spec_hash(self) -> str:
        """Stable hash of everything that drives the prediction (identity and annotations excluded).

        Two workloads with the same template share a hash, so the predictor caches by it and the
        collector uses it to tell a template change from a status update.
        """
        # orjson over the field values in declaration order: a fifth of the cost of model_dump +
        # sort (this runs for every request the API serves); dict keys (labels, container
        # fields) sorted, so the order they were written in does not matter. BLAKE2b (built
        # in) costs less per call than OpenSSL's SHA-256 for a few hundred bytes.
        body = orjson.dumps([_hashed_values(self.__dict__), [c.__dict__ for c in self.containers], self.labels],
                            option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(body, digest_size=8).hexdigest()


_HASHED_FIELDS = tuple(f for f in InferenceRequest.model_fields
                       if f not in ("namespace", "workload_name", "annotations", "pod_spec", "containers", "labels"))
"""What `InferenceRequest.spec_hash` takes as plain values; identity, annotations and the raw pod spec
(its derived fields are hashed) are left out, containers and labels are added as dicts."""
_hashed_values = operator.itemgetter(*_HASHED_FIELDS)


MAX_EXACT_INT = 2**53
"""Largest integer a float64 holds exactly: the largest number a request may carry (counts, millicores, MiB)."""
_MAX_EXACT_FLOAT = float(MAX_EXACT_INT)  # compared as a float: a float-to-int comparison costs more

_REQUEST_NUMBERS = (
    "effective_req_cpu_mcpu", "effective_req_mem_mib", "effective_lim_cpu_mcpu", "effective_lim_mem_mib",
    "replicas", "init_container_count", "sidecar_count", "gpu_count", "parallelism", "completions",
)
_CONTAINER_NUMBERS = ("req_cpu_mcpu", "req_mem_mib", "lim_cpu_mcpu", "lim_mem_mib")


def check_numbers(req: InferenceRequest, source: str = "<request>", document: int | None = None) -> None:
    """Refuse numbers no feature or energy can be computed from (inf, NaN, beyond 2^53): an `InputError`.

    Why here and not in the field types: JSON `1e400` is infinity, which pydantic would otherwise write
    back as `null` ("unset") in NDJSON, and derived fields (`effective_*`) are filled in after validation.
    Every door applies it: the predictor, the file reader, the manifest converter. Containers first: a
    derived field is only out of range because of one of them.
    """
    for i, c in enumerate(req.containers):
        for name in _CONTAINER_NUMBERS:
            value = getattr(c, name)
            if value is not None and (value != value or value > _MAX_EXACT_FLOAT):  # NaN, inf, huge
                raise out_of_range(value, source, f"containers[{i}].{name}", document, _what(req))
    for name in _REQUEST_NUMBERS:
        value = getattr(req, name)
        if value is not None and (value != value or value > _MAX_EXACT_FLOAT):
            raise out_of_range(value, source, name, document, _what(req))


def _what(req: InferenceRequest) -> str:
    return f"{req.workload_kind} {req.namespace}/{req.workload_name}"


def out_of_range(value: float, source: str, field: str, document: int | None = None,
                 what: str | None = None) -> InputError:
    """The one message for a number beyond `MAX_EXACT_INT` (or not finite); a huge integer is shown cut short."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit conversion limit
        text = "a number of more than 4,300 digits"
    text = text if len(text) <= 40 else text[:39] + "…"
    return InputError(f"{text} is out of range (must be a finite number up to 2^53)", source=source,
                      document=document, what=what, field=field)


class SkippedDocument(BaseModel):
    """A YAML document that held no workload, and why."""

    document: int = Field(description="1-based index of the document (or List item) in the input.")
    kind: str | None = None
    name: str | None = None
    reason: str


class ConversionResult(BaseModel):
    """Every workload found in an input, plus what was skipped."""

    source: str
    requests: list[InferenceRequest]
    skipped: list[SkippedDocument] = Field(default_factory=list)


class Neighbor(BaseModel):
    """A training workload close to the queried spec."""

    namespace: str
    workload_kind: str
    workload_name: str
    distance: float
    measured_avg_power_w: float = Field(description="Measured average power per pod, W.")


class ExplainedNeighbor(Neighbor):
    """A neighbour the prediction used, with what it contributed (see `Explanation`)."""

    scale: float = Field(description="Factor applied to its measured power, raised to the model's offset scale: "
                                     "the ratio of the physics priors (query / neighbour) when both specs set CPU "
                                     "or GPUs; else, when they hold different numbers of GPUs, the ratio of the "
                                     "neighbour's prior with the query's GPUs to its prior with its own; else 1 "
                                     "(`scaled_by`).")
    scaled_by: Literal["prior ratio", "GPUs", "none"] = Field(
        default="none", description="Which of the three rules of `scale` applied.")
    prior_power_w: float | None = Field(default=None, description="Its own physics prior (defaults filled in), W.")
    gpus: int | None = Field(default=None, description="GPUs per pod it held.")
    scaled_power_w: float = Field(description="measured_avg_power_w × scale, W (measured floored at 1 µW).")
    weight: float = Field(description="Its share of the average, 0-1 (1/distance, or equal, normalised).")


class Explanation(BaseModel):
    """How `pred_avg_power_w` follows from the neighbours, so a person can recompute it:

    `scale = (prior_power_w / neighbour's prior_power_w) ^ offset_scale` ("prior ratio"), or
    `((its prior + 100 W × (GPUs − its gpus)) / its prior) ^ offset_scale` ("GPUs"), or 1;
    `knn_power_w = exp(Σ weight × ln scaled_power_w)` over `neighbors`;
    `prior_weight = 0` up to `typical_distance`, then `1 − typical_distance / distance of the nearest`;
    `pred_avg_power_w = min(exp((1 − prior_weight) × ln knn_power_w + prior_weight × ln prior_power_w),
    physical_max_w)`.
    """

    neighbors: list[ExplainedNeighbor]
    knn_power_w: float = Field(description="Weighted geometric mean of the neighbours' scaled power, W.")
    prior_power_w: float = Field(description="Physics prior from the requests alone (app.ml.physics), W.")
    prior_weight: float = Field(description="Weight of the prior in the blend, 0-1: 0 up to the typical "
                                            "nearest-neighbour distance of the training set, then 1 − "
                                            "typical/distance.")
    typical_distance: float | None = Field(default=None, description="That typical distance (τ): the nearest "
                                           "neighbour's `distance` over it gives `prior_weight`.")
    offset_scale: float | None = Field(default=None, description="The exponent of every neighbour's `scale`.")
    physical_max_w: float = Field(description="The most the pod's resources can draw, W: the cap.")


class Prediction(BaseModel):
    """Predicted power and energy of one workload."""

    namespace: str
    workload_kind: str
    workload_name: str
    spec_hash: str
    replicas: int = Field(description="Pods running at once (see InferenceRequest.replicas).")
    pred_avg_power_w: float = Field(description="Average power per pod, W.")
    pred_energy_step_j: float = Field(description=f"Energy per pod per {STEP_SECONDS} s step, J.")
    pred_power_w_total: float = Field(description="Average power of all replicas, W.")
    model_version: str
    pred_avg_power_w_low: float | None = Field(default=None, description="Lower bound of the interval, W per pod.")
    pred_avg_power_w_high: float | None = Field(default=None, description="Upper bound of the interval, W per pod.")
    interval_level: float | None = Field(default=None, description="Nominal coverage of the interval, 0-1.")
    pred_cpu_cores: float | None = Field(default=None, description="Predicted CPU usage per pod, cores.")
    pred_mem_bytes: float | None = Field(default=None, description="Predicted memory working set per pod, bytes.")
    hours: float | None = Field(default=None, description="Horizon for the energy fields, hours.")
    pred_energy_j: float | None = Field(default=None, description="Energy of all replicas over the horizon, J.")
    pred_energy_kwh: float | None = Field(default=None, description="Energy of all replicas over the horizon, kWh.")
    pred_co2_g: float | None = Field(default=None, description="Emissions over the horizon, grams CO2e.")
    out_of_distribution: bool | None = Field(default=None, description=(
        "True when the spec is implausible (`ood_reasons`) or far from every measured workload (its nearest "
        "training workload more than twice the training set's typical nearest-neighbour distance away, "
        "`prior_weight` > 0.5). Treat the number as a physics estimate, not a measurement-backed one."))
    ood_reasons: list[str] | None = Field(default=None, description="Why the spec is no ordinary one, when it is not.")
    prior_weight: float | None = Field(default=None, description=(
        "Weight of the physics prior in the blend, 0-1: 0 while the nearest training workload is within the "
        "typical distance, rising towards 1 far away."))
    neighbors: list[Neighbor] | None = None
    explanation: Explanation | None = Field(default=None, description="With `explain`: how the number follows.")
    # Added in 0.x (issue #18): the same quantities named for who they cover, so a per-pod watt is never
    # read as the workload's. The older names above stay (same values) for existing clients.
    pred_power_w_per_pod: float | None = Field(default=None, description="Average power per pod, W "
                                               "(= pred_avg_power_w).")
    pred_power_w_all_replicas: float | None = Field(default=None, description="Average power of all replicas, W "
                                                    "(= pred_power_w_total = replicas × per pod).")
    pred_power_w_all_replicas_low: float | None = Field(default=None, description="Lower bound, W, all replicas.")
    pred_power_w_all_replicas_high: float | None = Field(default=None, description="Upper bound, W, all replicas.")
    hours_requested: float | None = Field(default=None, description="The horizon asked for (`hours`), hours.")
    hours_basis: HoursBasis | None = Field(
        default=None, description="What `hours` (the hours the energy covers) means: `horizon` = all replicas run "
        "the whole requested horizon; `per-run` = one run of a Job (its measured duration, whatever was asked); "
        "`schedule` = a CronJob's runs from its schedule over the requested horizon.")
    grid_gco2_per_kwh: float | None = Field(default=None, description="Grid carbon intensity used for the CO2 "
                                            "fields, gCO2e/kWh.")
    pred_energy_j_all_replicas: float | None = Field(default=None, description="Energy of all replicas over "
                                                     "`hours`, J (= pred_energy_j).")
    pred_energy_kwh_all_replicas: float | None = Field(default=None, description="Energy of all replicas over "
                                                       "`hours`, kWh (= pred_energy_kwh).")
    pred_energy_kwh_all_replicas_low: float | None = Field(default=None, description="Lower bound, kWh.")
    pred_energy_kwh_all_replicas_high: float | None = Field(default=None, description="Upper bound, kWh.")
    pred_co2_g_all_replicas: float | None = Field(default=None, description="Emissions of all replicas over "
                                                  "`hours`, g CO2e (= pred_co2_g).")
    pred_co2_g_all_replicas_low: float | None = Field(default=None, description="Lower bound, g CO2e.")
    pred_co2_g_all_replicas_high: float | None = Field(default=None, description="Upper bound, g CO2e.")


class MultiPrediction(BaseModel):
    """Predictions for a YAML body holding several workloads, plus the documents skipped."""

    predictions: list[Prediction]
    skipped: list[SkippedDocument] = Field(default_factory=list)
    pred_power_w_total: float = Field(description="Sum of pred_power_w_total over all predictions, W.")
