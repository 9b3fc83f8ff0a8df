"""The endpoints, one module per resource. Each only wires: parse → the shared domain functions → response.

`router` holds every route in the order they are matched: `/predict` first (the hot path), the
documentation pages and their static files last.
"""

from fastapi import APIRouter

from app.api.routes import admission, docs, metrics, predict, service, yaml

router = APIRouter()
for module in (predict, service, yaml, admission, metrics, docs):
    router.routes.extend(module.router.routes)
