"""The TELEMETRY setting: which apps record OpenTelemetry spans, observed through a recording provider.

The provider is installed by replacing `opentelemetry.trace.get_tracer_provider`, the function both
FastAPI and `app.api.telemetry` ask, so nothing global is set for the other tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace

from app.api.app import create_app
from app.api.telemetry import OFF, providers_configured, telemetry_config
from tests.api.conftest import settings_for


class RecordingTracer(trace.Tracer):
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        self.names.append(name)
        return trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.names.append(name)
        return trace.use_span(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT))


class RecordingProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self.names: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return RecordingTracer(self.names)


def _spans(app: Any, provider: RecordingProvider) -> list[str]:
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    return provider.names


def test_modes_without_a_provider() -> None:
    assert not providers_configured()  # the API's placeholders only, in this test process
    assert telemetry_config("off") == OFF
    assert telemetry_config("on") is None
    assert telemetry_config("auto", environ={}) == OFF
    assert telemetry_config("auto", environ={"FASTAPI_OTEL_AUTO_CONFIGURE": "TRUE"}) is None


def test_auto_records_spans_when_a_provider_is_configured_at_start(
    tiny_artifacts: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    assert providers_configured()
    app = create_app(settings_for(tiny_artifacts, telemetry="auto"), background=False)
    assert {"GET", "fastapi.endpoint"} <= set(_spans(app, provider))  # the server span, renamed later


def test_off_records_nothing_even_with_a_provider(
    tiny_artifacts: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    app = create_app(settings_for(tiny_artifacts, telemetry="off"), background=False)
    assert _spans(app, provider) == []


def test_auto_decides_at_start_and_on_checks_every_request(
    tiny_artifacts: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # no provider when the apps are built; one configured afterwards: only `on` picks it up
    auto = create_app(settings_for(tiny_artifacts, telemetry="auto"), background=False)
    on = create_app(settings_for(tiny_artifacts, telemetry="on"), background=False)
    provider = RecordingProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    assert _spans(auto, provider) == []
    assert {"GET", "fastapi.endpoint"} <= set(_spans(on, provider))
