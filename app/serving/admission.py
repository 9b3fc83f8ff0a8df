"""Admission decisions for the webhook: annotate a workload with its predicted power, enforce namespace budgets.

Pure logic, no web framework and no Kubernetes client: the route hands in the decoded AdmissionReview
(admission.k8s.io/v1, https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/)
and a `predict` callable; a budget check also gets the namespace's budget annotation and the predicted
total of the namespace's other workloads as plain values (`NamespaceView`).

Guarantees:
  * The mutating patch (RFC 6902 JSON Patch) only touches `/metadata/annotations`, and only the four
    `podpower.io/…` keys; the spec is never changed. Equal annotations give no patch, so an UPDATE of
    an already annotated object is a no-op (idempotent), and the values are formatted deterministically.
  * Nothing here has a side effect, so `dryRun` reviews are answered exactly like real ones.
  * Safe by default: a workload that cannot be predicted (bad spec, model not loaded) is allowed,
    with a warning saying why; only a budget set on the namespace can deny, and only a workload that
    raises its own predicted total past that budget (a scale-down is never denied).
  * A review that is not a v1 AdmissionReview raises `InputError` naming the field (the route answers 400).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.core.errors import InputError, PodPowerError
from app.core.schema import Prediction
from app.workloads.convert import request_from_object

PREFIX = "podpower.io/"
PREDICTED_WATTS = PREFIX + "predicted-watts"
"""W per pod (the model's average power), three decimals."""
PREDICTED_WATTS_TOTAL = PREFIX + "predicted-watts-total"
"""W for all replicas (per pod × replicas; a DaemonSet counts one pod, its node count is not in the spec)."""
PREDICTED_WATTS_INTERVAL = PREFIX + "predicted-watts-interval"
"""JSON `{"low": W, "high": W, "level": 0.8}` per pod; removed when the model has no interval."""
MODEL_VERSION = PREFIX + "model-version"
ANNOTATIONS = (PREDICTED_WATTS, PREDICTED_WATTS_TOTAL, PREDICTED_WATTS_INTERVAL, MODEL_VERSION)
BUDGET_WATTS = PREFIX + "budget-watts"
"""Namespace annotation: the power budget in W (`500`, `500W`, `1.5kW`)."""
SKIP_LABEL = PREFIX + "skip"
"""Label `podpower.io/skip: "true"` on an object or namespace: the webhook configurations' selectors leave it out."""
WARN_FRACTION = 0.8
"""A warning when the namespace would be at this fraction of its budget or more."""

API_VERSION = "admission.k8s.io/v1"
MAX_WARNING = 256
"""Characters per warning: the API server may truncate longer ones (Kubernetes docs, "Response: warnings")."""
ADMITTED: frozenset[tuple[str, str]] = frozenset({
    ("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("apps", "ReplicaSet"),
    ("batch", "Job"), ("batch", "CronJob"), ("", "Pod"),
})
"""(API group, kind) the webhook predicts for; any other object is allowed untouched."""
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")

Predict = Callable[[Any], Prediction]
"""A converted workload → its prediction (the shared `Predictor.predict`); may raise `PodPowerError`."""


@dataclass(frozen=True)
class Review:
    """The fields of an AdmissionReview's `request` the decisions use."""

    uid: str
    group: str
    kind: str
    operation: str
    namespace: str
    name: str
    obj: Mapping[str, Any] | None
    old: Mapping[str, Any] | None
    dry_run: bool

    @property
    def admitted(self) -> bool:
        """A workload kind on CREATE or UPDATE: the only reviews that get a prediction."""
        return (self.group, self.kind) in ADMITTED and self.operation in ("CREATE", "UPDATE") and self.obj is not None

    @property
    def key(self) -> str:
        """`Kind/namespace/name`: how the namespace tally (`app.adapters.namespaces`) names a workload."""
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def what(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class NamespaceView:
    """What the budget check needs about a namespace, read by the caller (adapters) from the cluster.

    `budget`: the raw `podpower.io/budget-watts` annotation (None: no budget). `others_w`: the predicted
    total of the namespace's other workloads (0 when not tracked: then the workload's own total is
    compared with the budget).
    """

    budget: str | None
    others_w: float = 0.0


@dataclass
class Verdict:
    """One AdmissionReview response, before encoding."""

    uid: str
    allowed: bool = True
    patch: list[dict[str, Any]] | None = None
    warnings: list[str] | None = None
    message: str | None = None

    def review(self) -> dict[str, Any]:
        """The AdmissionReview the API server expects back (uid echoed, patch base64 JSON Patch)."""
        response: dict[str, Any] = {"uid": self.uid, "allowed": self.allowed}
        if self.patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(self.patch, separators=(",", ":")).encode()).decode()
        if self.warnings:
            response["warnings"] = [w if len(w) <= MAX_WARNING else w[: MAX_WARNING - 1] + "…" for w in self.warnings]
        if not self.allowed:
            response["status"] = {"code": 403, "reason": "Forbidden", "message": self.message or "denied"}
        return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


# -- parsing ---------------------------------------------------------------------------------------
def _error(field: str, message: str) -> InputError:
    return InputError(message, source="body", field=field)


def _str(value: Any, field: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _error(field, "required string is missing" if value in (None, "") else
                     f"expected a string, got {type(value).__name__}")
    return value


def _object(value: Any, field: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _error(field, f"expected an object, got {type(value).__name__}")
    meta = value.get("metadata")
    if meta is not None and not isinstance(meta, Mapping):
        raise _error(f"{field}.metadata", f"expected an object, got {type(meta).__name__}")
    annotations = meta.get("annotations") if meta else None
    if annotations is not None and not isinstance(annotations, Mapping):
        raise _error(f"{field}.metadata.annotations", f"expected an object, got {type(annotations).__name__}")
    return value


def parse_review(body: Any) -> Review:
    """Check the shape of an AdmissionReview v1 and pick out the request; `InputError` naming the field otherwise."""
    if not isinstance(body, Mapping):
        raise _error("<document>", f"expected an AdmissionReview object, got {type(body).__name__}")
    if body.get("apiVersion") != API_VERSION:
        raise _error("apiVersion", f"expected {API_VERSION!r}, got {body.get('apiVersion')!r}")
    if body.get("kind") != "AdmissionReview":
        raise _error("kind", f"expected 'AdmissionReview', got {body.get('kind')!r}")
    req = body.get("request")
    if not isinstance(req, Mapping):
        raise _error("request", "required object is missing" if req is None else
                     f"expected an object, got {type(req).__name__}")
    uid = _str(req.get("uid"), "request.uid", required=True)
    gvk = req.get("kind")
    if not isinstance(gvk, Mapping):
        raise _error("request.kind", "required object is missing" if gvk is None else
                     f"expected an object, got {type(gvk).__name__}")
    operation = _str(req.get("operation"), "request.operation", required=True)
    if operation not in OPERATIONS:
        raise _error("request.operation", f"expected one of {', '.join(OPERATIONS)}, got {operation!r}")
    dry_run = req.get("dryRun", False)
    if dry_run is None:
        dry_run = False
    if not isinstance(dry_run, bool):
        raise _error("request.dryRun", f"expected true or false, got {dry_run!r}")
    return Review(
        uid=uid,
        group=_str(gvk.get("group"), "request.kind.group"),
        kind=_str(gvk.get("kind"), "request.kind.kind", required=True),
        operation=operation,
        namespace=_str(req.get("namespace"), "request.namespace"),
        name=_str(req.get("name"), "request.name"),
        obj=_object(req.get("object"), "request.object"),
        old=_object(req.get("oldObject"), "request.oldObject"),
        dry_run=dry_run,
    )


# -- predictions and annotations -------------------------------------------------------------------
def _named(review: Review, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object with the name and namespace of the request filled in.

    A Pod made by a ReplicaSet arrives with only `generateName`; the object may also leave out the
    namespace the request names. The converter needs both (they do not enter the features).
    """
    meta = dict(obj.get("metadata") or {})
    meta["name"] = meta.get("name") or review.name or str(meta.get("generateName") or "") or "unnamed"
    meta["namespace"] = meta.get("namespace") or review.namespace or "default"
    return {**obj, "metadata": meta}


def predict_object(review: Review, obj: Mapping[str, Any], predict: Predict) -> Prediction:
    """Convert the object as `/predict/from-yaml` does and predict; `PodPowerError` when either fails."""
    return predict(request_from_object(_named(review, obj), "request.object"))


def watts(value: float) -> str:
    """The annotation form of a power: W with three decimals (deterministic, so re-admission matches)."""
    return f"{value:.3f}"


def power_annotations(pred: Prediction) -> dict[str, str | None]:
    """The podpower annotations for a prediction; None means "remove" (no interval for this model)."""
    interval = None
    if pred.pred_avg_power_w_low is not None and pred.pred_avg_power_w_high is not None:
        interval = json.dumps({"low": round(pred.pred_avg_power_w_low, 3), "high": round(pred.pred_avg_power_w_high, 3),
                               "level": pred.interval_level}, separators=(",", ":"))
    return {
        PREDICTED_WATTS: watts(pred.pred_avg_power_w),
        PREDICTED_WATTS_TOTAL: watts(pred.pred_power_w_total),
        PREDICTED_WATTS_INTERVAL: interval,
        MODEL_VERSION: pred.model_version,
    }


def pointer(key: str) -> str:
    """One JSON-pointer reference token (RFC 6901): `~` → `~0`, `/` → `~1`."""
    return key.replace("~", "~0").replace("/", "~1")


def annotation_patch(obj: Mapping[str, Any], wanted: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """JSON Patch operations that make the object's annotations hold `wanted`; [] when they already do.

    An object without `metadata` or without `metadata.annotations` gets the map added whole (a JSON
    Patch `add` needs the parent to exist); keys already holding the value are left alone.
    """
    values = {k: v for k, v in wanted.items() if v is not None}
    meta = obj.get("metadata")
    if meta is None:
        return [{"op": "add", "path": "/metadata", "value": {"annotations": values}}] if values else []
    current = meta.get("annotations")
    if current is None:
        return [{"op": "add", "path": "/metadata/annotations", "value": values}] if values else []
    ops: list[dict[str, Any]] = []
    for key, value in wanted.items():
        path = "/metadata/annotations/" + pointer(key)
        if value is None:
            if key in current:
                ops.append({"op": "remove", "path": path})
        elif current.get(key) != value:
            ops.append({"op": "add", "path": path, "value": value})  # `add` replaces an existing member
    return ops


def ood_warning(review: Review, pred: Prediction) -> list[str]:
    if pred.out_of_distribution:
        return [f"podpower: {review.what} is unlike the power model's training workloads: "
                f"{watts(pred.pred_avg_power_w)} W per pod is uncertain"]
    return []


def _no_prediction(review: Review, exc: PodPowerError) -> list[str]:
    return [f"podpower: no power prediction for {review.what}: {exc}"]


def mutate(review: Review, predict: Predict) -> Verdict:
    """Annotate a workload with its predicted power; everything else passes untouched."""
    if not review.admitted:
        return Verdict(review.uid)
    obj = review.obj
    assert obj is not None
    try:
        pred = predict_object(review, obj, predict)
    except PodPowerError as exc:
        return Verdict(review.uid, warnings=_no_prediction(review, exc))
    return Verdict(review.uid, patch=annotation_patch(obj, power_annotations(pred)) or None,
                   warnings=ood_warning(review, pred) or None)


# -- budgets ---------------------------------------------------------------------------------------
_UNITS = (("kw", 1000.0), ("w", 1.0), ("", 1.0))


def parse_budget(raw: str) -> float:
    """`500`, `500W`, `1.5kW` → W; `ValueError` for anything else (negative, NaN, inf, text)."""
    text = raw.strip().lower()
    for suffix, factor in _UNITS:
        if text.endswith(suffix):
            number = text[: len(text) - len(suffix)].strip() if suffix else text
            try:
                value = float(number) * factor
            except ValueError:
                break
            if math.isfinite(value) and value >= 0:
                return value
            break
    raise ValueError(f"{raw!r} is not a power (use W, e.g. 500 or 1.5kW)")


def controlled(obj: Mapping[str, Any]) -> bool:
    """Made by a controller (a Deployment's ReplicaSet, its Pods, a CronJob's Jobs): the owner was checked."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, Mapping) and r.get("controller") is True for r in refs)


def budget_verdict(review: Review, pred: Prediction, old_total_w: float, view: NamespaceView,
                   warn_fraction: float = WARN_FRACTION) -> Verdict:
    """Deny when the workload raises its own total and the namespace would then exceed its budget.

    projected = others + this workload's new total. Denied when projected > budget and the new total
    is above the old one (on UPDATE; 0 on CREATE), so scaling down or changing nothing always passes.
    At `warn_fraction` of the budget or more, a warning with the numbers.
    """
    warnings = ood_warning(review, pred)
    if view.budget is None:
        return Verdict(review.uid, warnings=warnings or None)
    ns = review.namespace
    try:
        budget = parse_budget(view.budget)
    except ValueError as exc:
        warnings.append(f"podpower: namespace {ns} annotation {BUDGET_WATTS}: {exc}; budget not enforced")
        return Verdict(review.uid, warnings=warnings)
    own = pred.pred_power_w_total
    projected = view.others_w + own
    numbers = (f"{review.what} is predicted at {own:.1f} W ({pred.pred_avg_power_w:.1f} W × {pred.replicas} "
               f"pod(s)); with the {view.others_w:.1f} W predicted for the rest of namespace {ns} that makes "
               f"{projected:.1f} W")
    if projected > budget and own > old_total_w:
        message = (f"podpower: {numbers}, over the namespace's power budget of {budget:.1f} W "
                   f"({BUDGET_WATTS}) by {projected - budget:.1f} W")
        return Verdict(review.uid, allowed=False, message=message, warnings=warnings or None)
    if projected > budget:
        warnings.append(f"podpower: namespace {ns} is over its power budget with {review.what}: "
                        f"{projected:.1f} of {budget:.1f} W")
    elif projected >= warn_fraction * budget:
        warnings.append(f"podpower: {review.what} brings namespace {ns} to {100 * projected / budget:.0f}% of its "
                        f"power budget: {projected:.1f} of {budget:.1f} W")
    return Verdict(review.uid, warnings=warnings or None)


def validate(review: Review, predict: Predict, view: Callable[[str, str], NamespaceView],
             warn_fraction: float = WARN_FRACTION) -> Verdict:
    """The budget check for one review; `view(namespace, key)` (key: `Review.key`, left out of the
    namespace's total) is only asked when the workload is predictable."""
    if not review.admitted or controlled(review.obj or {}):
        return Verdict(review.uid)
    obj = review.obj
    assert obj is not None
    try:
        pred = predict_object(review, obj, predict)
    except PodPowerError as exc:
        return Verdict(review.uid, warnings=_no_prediction(review, exc))
    old_total = 0.0
    if review.operation == "UPDATE" and review.old is not None:
        try:
            old_total = predict_object(review, review.old, predict).pred_power_w_total
        except PodPowerError:
            old_total = 0.0  # the old spec no longer predicts (new model): judge as a new workload
    return budget_verdict(review, pred, old_total, view(review.namespace, review.key), warn_fraction)
