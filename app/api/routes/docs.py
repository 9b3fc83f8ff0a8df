"""`/docs` (Swagger UI), `/redoc` (ReDoc), their assets under `/static`, and `/` → `/docs`.

Rule: the pages load nothing from another host. FastAPI's built-in pages fetch Swagger UI and ReDoc
from a public CDN (and ReDoc its fonts from Google), so without internet access `/docs` is blank;
here both UIs are served from files vendored in `app/api/static/` (versions and licences in its
README.md), ReDoc runs with the browser's own fonts, Swagger UI's online validator (which calls
validator.swagger.io for non-localhost pages in layouts that show its badge) is off, and ReDoc's one hard-wired remote
URL, the Redocly logo in its menu footer, which no option turns off, is replaced as the bundle is
served (the vendored file stays byte-identical to the npm package). URLs honour the ASGI
`root_path`, so the pages also work behind a proxy that mounts the API under a prefix.
"""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PATH = "/static"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OPENAPI_PATH = "/openapi.json"  # FastAPI's default openapi_url, which create_app keeps
REDOC_JS = "redoc/redoc.standalone.js"
REDOCLY_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E"

router = APIRouter()


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get(DOCS_PATH, include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=root + OPENAPI_PATH,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_PATH}/swagger-ui/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(REDOC_PATH, include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_redoc_html(
        openapi_url=root + OPENAPI_PATH,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{STATIC_PATH}/{REDOC_JS}",
        redoc_favicon_url=f"{root}{STATIC_PATH}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )


@router.get("/", include_in_schema=False)
async def home(request: Request) -> RedirectResponse:
    return RedirectResponse(_root(request) + DOCS_PATH)


@functools.cache
def _redoc_bundle() -> bytes:
    return (STATIC_DIR / REDOC_JS).read_bytes().replace(REDOCLY_LOGO, EMPTY_IMAGE)


@router.get(f"{STATIC_PATH}/{REDOC_JS}", include_in_schema=False)
async def redoc_bundle() -> Response:
    """The ReDoc bundle without its remote logo URL (matched before the static mount below)."""
    return Response(_redoc_bundle(), media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=86400"})


router.routes.append(Mount(STATIC_PATH, app=StaticFiles(directory=STATIC_DIR), name="static"))
