"""The response examples shown in Swagger UI, computed from a model: `python -m app examples` writes them.

Rule: the documented answers are what the shipped model really answers for the documented requests.
`generate()` runs the requests of `app.api.examples` through a Predictor the way the endpoints do (the
same conversion, prediction and from-yaml answer shape, serialised like the responses: `None` fields
left out) and `write()` stores them in `app/api/response_examples.json`, which `app.api.examples`
reads at import. `python -m app bootstrap` rewrites the file whenever it rebuilds the shipped
artifacts; tests/api/test_examples.py posts the requests to the running app on the shipped artifacts
and checks the file holds exactly those answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.api.examples import GENERATED_PATH, PREDICT_CONTAINERS, YAML_MANY, YAML_ONE
from app.api.routes.yaml import answer
from app.core.schema import InferenceRequest
from app.workloads.convert import requests_from_yaml

if TYPE_CHECKING:
    from app.serving.predictor import Predictor


def _yaml_answer(predictor: Predictor, text: str) -> dict[str, Any]:
    result = requests_from_yaml(text, "body")
    return answer(predictor.predict_many(result.requests, "body"), result).model_dump(mode="json", exclude_none=True)


def generate(predictor: Predictor) -> dict[str, Any]:
    """The answers of `/predict` (containers example) and `/predict/from-yaml` (one and many workloads)."""
    one = predictor.predict(InferenceRequest.model_validate(PREDICT_CONTAINERS), "body")
    return {
        "model_version": predictor.model_version,
        "predict_containers": one.model_dump(mode="json", exclude_none=True),
        "yaml_one": _yaml_answer(predictor, YAML_ONE),
        "yaml_many": _yaml_answer(predictor, YAML_MANY),
    }


def render(answers: dict[str, Any]) -> str:
    return json.dumps(answers, indent=2) + "\n"


def write(predictor: Predictor, path: str | Path = GENERATED_PATH) -> Path:
    path = Path(path)
    path.write_text(render(generate(predictor)))
    return path
