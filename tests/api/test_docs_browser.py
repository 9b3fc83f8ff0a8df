"""/docs and /redoc in a real headless Chromium, against the real server, with no network but loopback.

Chromium (Debian `chromium` + `chromium-driver`, driven by selenium) resolves every host name but
127.0.0.1 to "not found", so a page that still loads anything from a CDN or a font service breaks
here as it would on an offline machine; every URL the browser requested is checked to be on the
server too. On /docs, "Try it out" → "Execute" is run for every request example of /predict and
/predict/from-yaml, and the page must show a 200 and the prediction, as a person would see it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.api import examples
from app.core.settings import DEFAULT_ARTIFACTS
from tests.conftest import REPO, free_port, need, need_binary
from tests.processes import running

pytestmark = pytest.mark.server

try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # the browser fixture skips, or fails under CI=true
    webdriver = None

WAIT_S = 30
HOST = "podpower.test"
"""The browser reaches the server by this name (mapped to 127.0.0.1), as a user reaches a deployment: the UIs
treat localhost and 127.0.0.1 pages specially (Swagger UI's online validator skips them)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`python -m app serve` on the shipped artifacts: the answers a person trying /docs would get."""
    port = free_port()
    log = tmp_path_factory.mktemp("docs-server") / "server.log"
    cmd = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--encoder", str(DEFAULT_ARTIFACTS / "encoder.npz"),
           "--model", str(DEFAULT_ARTIFACTS / "knn_energy.npz")]
    with running(cmd, f"http://127.0.0.1:{port}/readyz", log, cwd=REPO):
        yield f"http://{HOST}:{port}", log


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    need(webdriver is not None, "selenium is not installed: pip install -r requirements-dev.txt")
    chromium = need_binary("chromium", "apt-get install chromium")
    driver_path = need_binary("chromedriver", "apt-get install chromium-driver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1600",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
                f"--host-resolver-rules=MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, what: Callable[[Any], Any], message: str) -> Any:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(what, message)


def open_page(driver: Any, url: str, ready_css: str) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get_log("performance")
    driver.get(url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ready_css), f"{url}: {ready_css} never appeared")


def check_page(driver: Any, base: str) -> None:
    """No console errors, and every http(s) request the page made went to the server itself."""
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    urls = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    web = {u for u in urls if u.startswith(("http:", "https:", "ws:", "wss:", "//"))}
    assert web, "the performance log recorded no request"
    assert {u for u in web if not u.startswith(base + "/")} == set()


def test_root_redirects_to_the_docs_and_the_log_names_them(server: tuple[str, Path]) -> None:
    import httpx

    base, log = server
    local = base.replace(HOST, "127.0.0.1")
    r = httpx.get(local + "/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/docs"
    assert f"Swagger UI: {local}/docs" in log.read_text()


def operation(driver: Any, op_id: str) -> Any:
    """The operation's block, opened, with "Try it out" pressed."""
    css = f"#operations-predict-{op_id}"
    block = driver.find_element(By.CSS_SELECTOR, css)
    if "is-open" not in (block.get_attribute("class") or ""):
        block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    button = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"{css} .try-out__btn"), f"{css}: no Try it out")
    if not block.find_elements(By.CSS_SELECTOR, ".execute"):  # not in try-out mode yet (else the button cancels it)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"{css} .execute"), f"{css}: no Execute button")
    return block


def execute_every_example(driver: Any, op_id: str, names: list[str]) -> list[tuple[str, str, str]]:
    """Select each request example, Execute, read the status and body the page shows; returns them."""
    css = f"#operations-predict-{op_id}"
    block = operation(driver, op_id)
    status_css = f"{css} .live-responses-table tr.response .response-col_status"
    shown = []
    for summary in names:
        select = Select(block.find_element(By.CSS_SELECTOR, ".opblock-section-request-body .examples-select select"))
        select.select_by_visible_text(summary)
        execute = block.find_element(By.CSS_SELECTOR, ".execute")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", execute)
        execute.click()
        status = wait(driver, lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, status_css) if e.text],
                      f"{op_id}/{summary}: no response shown")[0]
        body = block.find_element(By.CSS_SELECTOR, "tr.response .response-col_description pre").text
        shown.append((summary, status, body))
        block.find_element(By.CSS_SELECTOR, ".btn-clear").click()
        wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, status_css), f"{op_id}: Clear left the response")
    return shown


def test_swagger_ui_executes_every_example(server: tuple[str, Path], browser: Any,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    base, _ = server
    open_page(browser, base + "/docs", ".opblock")
    assert browser.execute_script("return typeof SwaggerUIBundle") == "function"
    assert "k8sPodPCP prediction API" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    # the stylesheet applied: Swagger UI's own CSS sets the operation blocks' border radius
    radius = browser.execute_script("return getComputedStyle(document.querySelector('.opblock')).borderRadius")
    assert radius == "4px"
    shot = tmp_path_factory.mktemp("screenshots") / "docs.png"
    browser.save_screenshot(str(shot))  # for a person to look at; not compared

    cases = [
        ("predict_predict_post", [e["summary"] for e in examples.PREDICT_EXAMPLES.values()]),
        ("predict_from_yaml_predict_from_yaml_post", [e["summary"] for e in examples.YAML_EXAMPLES.values()]),
    ]
    for op_id, names in cases:
        shown = execute_every_example(browser, op_id, names)
        assert [s for s, _, _ in shown] == names
        for summary, status, body in shown:
            assert status == "200", (op_id, summary, body)
            answer = json.loads(body)
            predictions = answer.get("predictions", [answer])
            assert predictions and all(p["pred_avg_power_w"] >= 0 for p in predictions), (op_id, summary)
    # the one-workload YAML answer the page showed is the documented example
    shown = execute_every_example(browser, "predict_from_yaml_predict_from_yaml_post",
                                  [examples.YAML_EXAMPLES["one"]["summary"]])
    assert json.loads(shown[0][2]) == examples.PREDICTION_EXAMPLE
    check_page(browser, base)


def test_redoc_renders(server: tuple[str, Path], browser: Any) -> None:
    base, _ = server
    open_page(browser, base + "/redoc", ".api-content h1")
    assert browser.find_element(By.CSS_SELECTOR, ".api-content h1").text.startswith("k8sPodPCP prediction API")
    wait(browser, lambda d: "/predict/from-yaml" in d.find_element(By.CSS_SELECTOR, ".api-content").text,
         "ReDoc did not render the operations")
    assert browser.execute_script("return typeof Redoc") == "object"
    check_page(browser, base)
