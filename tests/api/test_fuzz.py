"""Property-based fuzzing of every operation with schemathesis, from the app's own OpenAPI document.

Valid and invalid bodies, wrong types, odd YAML strings: the app must answer each with a documented
status code, never a server error, and its responses must match the schema it publishes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.app import create_app
from tests.api.conftest import settings_for

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(tiny_artifacts: tuple[Path, Path]) -> Iterator[Any]:
    app = create_app(settings_for(tiny_artifacts), background=False)
    with TestClient(app):  # runs the lifespan: the model is loaded before the first case
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
