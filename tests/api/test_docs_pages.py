"""The documentation pages and their assets, without a browser: every URL they load is on the server.

The browser test (test_docs_browser.py) shows the pages work offline; this one runs everywhere and pins
the pieces: local asset URLs (also under a proxy prefix), no font service, the vendored files and their
licences, the ReDoc bundle served without its remote logo, and no way out of the static folder.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.api.routes.docs import EMPTY_IMAGE, REDOCLY_LOGO, STATIC_DIR
from app.cli.commands.serve import base_url

ASSETS = {
    "swagger-ui/swagger-ui-bundle.js": "javascript",
    "swagger-ui/swagger-ui.css": "text/css",
    "swagger-ui/favicon-32x32.png": "image/png",
    "redoc/redoc.standalone.js": "javascript",
}
LICENCES = ["swagger-ui/LICENSE", "swagger-ui/NOTICE", "swagger-ui/swagger-ui-bundle.js.LICENSE.txt",
            "redoc/LICENSE", "redoc/redoc.standalone.js.LICENSE.txt"]


def loaded_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html) + re.findall(
        r'spec-url="([^"]+)"', html)


def test_root_redirects_to_swagger_ui(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/docs"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_pages_load_only_local_urls(client: TestClient, page: str) -> None:
    html = client.get(page).text
    urls = loaded_urls(html)
    assert len(urls) >= 2
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "fonts.googleapis" not in html and "cdn." not in html
    for u in urls:
        assert client.get(u).status_code == 200, u


def test_pages_behind_a_prefix(client: TestClient) -> None:
    html = client.get("/docs").text  # without a prefix: absolute from the root
    assert '"/static/swagger-ui/swagger-ui-bundle.js"' in html
    with TestClient(client.app, root_path="/podpower") as prefixed:
        html = prefixed.get("/podpower/docs").text
        assert "/podpower/static/swagger-ui/swagger-ui-bundle.js" in html and "'/podpower/openapi.json'" in html
        assert prefixed.get("/podpower/", follow_redirects=False).headers["location"] == "/podpower/docs"


@pytest.mark.parametrize("path,kind", ASSETS.items())
def test_assets_are_served_with_their_type(client: TestClient, path: str, kind: str) -> None:
    r = client.get(f"/static/{path}")
    assert r.status_code == 200 and kind in r.headers["content-type"]
    assert len(r.content) > 500


def test_vendored_files_carry_their_licences() -> None:
    for name in LICENCES:
        assert (STATIC_DIR / name).stat().st_size > 40, name
    readme = (STATIC_DIR / "README.md").read_text()
    assert "swagger-ui-dist | 5.35.0" in readme and "redoc | 2.5.4" in readme


def test_redoc_bundle_is_served_without_its_remote_logo(client: TestClient) -> None:
    vendored = (STATIC_DIR / "redoc/redoc.standalone.js").read_bytes()
    assert REDOCLY_LOGO in vendored, "the vendored file is the npm package's, unchanged"
    served = client.get("/static/redoc/redoc.standalone.js").content
    assert REDOCLY_LOGO not in served and b"https://cdn" not in served
    assert served.count(EMPTY_IMAGE) == vendored.count(REDOCLY_LOGO) == 1
    assert served.replace(EMPTY_IMAGE, REDOCLY_LOGO) == vendored, "the logo URL is the only change"


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/app.py", "/static/swagger-ui/../../app.py",
                                  "/static/nope.js", "/static/"])
def test_nothing_outside_the_static_folder(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("host,url", [("127.0.0.1", "http://127.0.0.1:8000"), ("0.0.0.0", "http://localhost:8000"),
                                      ("::", "http://localhost:8000"), ("::1", "http://[::1]:8000"),
                                      ("api.example", "http://api.example:8000")])
def test_the_logged_base_url(host: str, url: str) -> None:
    assert base_url(host, 8000) == url
