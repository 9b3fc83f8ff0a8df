"""The app factory: `create_app(settings)`; `app` for `uvicorn app.api.app:app`.

Settings come from the environment in one place (`app.core.settings`); the lifespan starts loading the
encoder and model (ENCODER_PATH, MODEL_PATH) in the background, so the server accepts connections
at once: `/healthz` is 200 from the start, `/readyz` 503 until the artifacts are in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from starlette.routing import Route

from app import __version__
from app.api.errors import install_error_handlers
from app.api.limits import YAML_CONVERSIONS_AT_ONCE, BodyLimitMiddleware
from app.api.metrics import ApiMetrics, MetricsMiddleware
from app.api.routes import router
from app.api.routes.admission import namespace_power
from app.api.service import Loader, ServiceState, load_predictor
from app.api.telemetry import telemetry_config
from app.core.settings import Settings, get_settings

DESCRIPTION = """\
Predicts the average power (W) and the energy per 60 s step (J) of a Kubernetes workload's pods from its
spec, with a k-nearest-neighbours model trained on measured (Kepler) power.

* `POST /predict` — one InferenceRequest as JSON (containers form or `pod_spec` form).
* `POST /infer/from-yaml` — Kubernetes YAML → InferenceRequests (no model needed).
* `POST /predict/from-yaml` — Kubernetes YAML → one Prediction, or a MultiPrediction for several workloads.
* `POST /admission/mutate`, `POST /admission/validate` — the admission webhook (AdmissionReview v1).
* `GET /metrics` — Prometheus metrics. `/docs` (Swagger UI) and `/redoc` (ReDoc) work without internet.

Errors are `{"detail": "<one line naming the document and field>"}`: 413 body over MAX_BODY_BYTES, a YAML alias
bomb or more than MAX_YAML_OBJECTS (256) objects, 415 wrong Content-Type or a compressed body (Content-Encoding),
422 invalid content, 503 model not loaded.
"""

TAGS = [
    {"name": "predict", "description": "Predictions and spec conversion."},
    {"name": "service", "description": "Liveness, readiness and the model card."},
    {"name": "admission", "description": "Kubernetes admission webhook: predicted-power annotations, budgets."},
]


def create_app(
    settings: Settings | None = None, *, loader: Loader = load_predictor, background: bool = True
) -> FastAPI:
    """Build the app. `loader` turns settings into a Predictor (tests inject a gated one);
    `background=False` loads during start-up instead of in a thread (deterministic tests).
    """
    settings = settings or get_settings()
    service = ServiceState.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.encode_limiter = anyio.CapacityLimiter(1)
        service.yaml_limiter = anyio.CapacityLimiter(YAML_CONVERSIONS_AT_ONCE)
        if background:
            service.start_loading(loader)
        else:
            service.load(loader)
        power = namespace_power() if settings.admission_budgets else None  # budgets for /admission/validate
        app.state.namespace_power = power
        if power is not None:
            power.start()
        yield
        if power is not None:
            power.stop()

    app = FastAPI(
        title="k8sPodPCP prediction API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        telemetry=telemetry_config(settings.telemetry),
        docs_url=None,  # /docs and /redoc are app.api.routes.docs: the UIs served from here, not a CDN
        redoc_url=None,
    )
    app.state.service = service
    app.state.metrics = metrics = ApiMetrics(service, __version__)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: 413s are counted too
    install_error_handlers(app)
    # The routes join the app's own list rather than going through `include_router`: FastAPI 0.165
    # matches an included router's routes through a second, nested dispatch that cost ~90k CPU
    # instructions per request, more than the rest of the framework's work for /predict (measured
    # with callgrind). They go in front of FastAPI's /openapi.json route, so /predict is the first path
    # tried. The routes take no router-level settings (prefix, dependencies), so nothing else changes.
    app.router.routes[:0] = router.routes
    metrics.set_routes(r.path for r in app.router.routes if isinstance(r, Route))
    return app


app = create_app()
