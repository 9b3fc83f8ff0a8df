"""Whether the API records OpenTelemetry spans, metrics and logs: the TELEMETRY setting.

FastAPI records them natively, and by default asks on every request whether a tracer, meter or
logger provider is configured: about 36k CPU instructions (5% of a /predict request, measured with
callgrind) spent, on most deployments, finding that none is. `auto` (the default) asks once, when
the app is created: OpenTelemetry's auto-instrumentation (`opentelemetry-instrument python -m app
serve`) and SDK set-up in the process configure the global providers before that, and FastAPI's
own OTLP set-up from the environment (`FASTAPI_OTEL_AUTO_CONFIGURE=true`) counts as configured.
`on` keeps FastAPI's per-request check (providers configured later are picked up); `off` records
nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from fastapi.telemetry import TelemetryConfig
from opentelemetry import _logs, metrics, trace

TelemetryMode = Literal["auto", "on", "off"]

OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

_UNCONFIGURED = frozenset({
    # the API's placeholders until an SDK (or auto-instrumentation) sets a global provider
    ("opentelemetry.trace", "ProxyTracerProvider"),
    ("opentelemetry.metrics._internal", "_ProxyMeterProvider"),
    ("opentelemetry._logs._internal", "ProxyLoggerProvider"),
})


def providers_configured() -> bool:
    """True when a global tracer, meter or logger provider is set (anything but the API's placeholders)."""
    providers = (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider())
    return any((type(p).__module__, type(p).__name__) not in _UNCONFIGURED for p in providers)


def telemetry_config(mode: TelemetryMode, environ: Mapping[str, str] = os.environ) -> TelemetryConfig | None:
    """FastAPI's `telemetry=` argument for a mode: None keeps FastAPI's defaults (the per-request check)."""
    if mode == "on":
        return None
    if mode == "auto" and (environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true"
                           or providers_configured()):
        return None
    return OFF
