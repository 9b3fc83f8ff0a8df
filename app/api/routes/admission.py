"""`POST /admission/mutate` and `POST /admission/validate`: the Kubernetes admission webhook (AdmissionReview v1).

Only wiring: read the review (uncompressed JSON, 415 otherwise; over MAX_BODY_BYTES 413 from the body-limit
middleware), check its shape (`app.serving.admission.parse_review`; a malformed review is a 400, the
status the API server logs as the webhook's fault), decide with the shared predictor, answer with the
AdmissionReview. A workload that cannot be predicted, or a model not loaded yet, is allowed with a
warning: the webhook never blocks a deployment because of itself.

The budget check reads the namespace's budget and the predicted total of its other workloads from
`NamespacePower` (ADMISSION_BUDGETS=true: watch-backed caches started by the app's lifespan, see
`namespace_power`); without them no budget is known, so nothing is denied.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request, Response

from app.api.deps import read_body, require_json
from app.api.errors import ErrorResponse, render_error
from app.api.routes.offload import run, slow_encoder
from app.core.errors import InputError, PodPowerError
from app.serving import admission
from app.serving.admission import NamespaceView, Review, Verdict

if TYPE_CHECKING:
    from app.adapters.namespaces import NamespacePower
    from app.api.service import ServiceState

log = logging.getLogger("app.api")
router = APIRouter()

REVIEW_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An `admission.k8s.io/v1` AdmissionReview, as the API server sends it.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The AdmissionReview response: `uid` echoed, `allowed`, a base64 JSON Patch "
                         "(mutate), `warnings`, a 403 `status` with the numbers when a budget denies.",
          "content": {"application/json": {"schema": {"type": "object", "required": ["apiVersion", "kind",
                                                                                     "response"]}}}},
    400: {"model": ErrorResponse, "description": "Not an AdmissionReview v1 (the detail names the field)."},
    413: {"model": ErrorResponse, "description": "Body larger than MAX_BODY_BYTES."},
    415: {"model": ErrorResponse, "description": "Not sent as JSON, or sent compressed (Content-Encoding)."},
}


def namespace_power() -> NamespacePower | None:
    """The watch-backed budget/tally caches for the budget check, connected as the collector connects
    (in-cluster ServiceAccount, KUBECONFIG, K8S_CA_FILE, VERIFY_SSL).

    No usable configuration is logged and gives None: the webhook then serves without budgets rather
    than not at all (its pods failing would leave every workload unannotated).
    """
    from app.adapters.collector.config import connect
    from app.adapters.namespaces import NamespacePower
    from app.core.kinds import parse_kinds

    try:
        cluster = connect()
    except PodPowerError as exc:
        log.error("ADMISSION_BUDGETS: %s; namespace budgets are not enforced", exc)
        return None
    kinds = parse_kinds(sorted({kind for _, kind in admission.ADMITTED}))
    return NamespacePower(cluster, budget_key=admission.BUDGET_WATTS, total_key=admission.PREDICTED_WATTS_TOTAL,
                          kinds=kinds, controlled=admission.controlled)


async def _review(http: Request) -> Review:
    require_json(http)
    body = await read_body(http.receive)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc}", source="body") from None
    return admission.parse_review(data)


async def _answer(http: Request, decide: Any) -> Response:
    """Parse, run `decide(review, predict)` where the predictor's work belongs, encode the review."""
    try:
        review = await _review(http)
    except InputError as exc:
        if type(exc) is not InputError:  # 415 (media type) keeps its own status
            raise
        return render_error(400, str(exc))
    service: ServiceState = http.app.state.service
    predictor = service.predictor

    def predict(request: Any) -> Any:
        return service.require_predictor().predict(request, "request.object")

    offload = predictor is not None and review.admitted and slow_encoder(predictor)
    verdict: Verdict = await run(offload, decide, review, predict, limiter=service.encode_limiter)
    return Response(orjson.dumps(verdict.review()), media_type="application/json")


async def mutate(http: Request) -> Response:
    return await _answer(http, admission.mutate)


async def validate(http: Request) -> Response:
    power: NamespacePower | None = getattr(http.app.state, "namespace_power", None)

    def view(namespace: str, key: str) -> NamespaceView:
        if power is None:
            return NamespaceView(budget=None)
        return NamespaceView(budget=power.budget(namespace), others_w=power.others_w(namespace, key))

    def decide(review: Review, predict: Any) -> Verdict:
        return admission.validate(review, predict, view)

    return await _answer(http, decide)


for path, endpoint, summary in (
    ("/admission/mutate", mutate, "Mutating webhook: annotate a workload with its predicted power"),
    ("/admission/validate", validate, "Validating webhook: enforce the namespace's power budget"),
):
    router.add_api_route(path, endpoint, methods=["POST"], response_model=None, tags=["admission"],
                         summary=summary, openapi_extra=REVIEW_BODY, responses=RESPONSES)
