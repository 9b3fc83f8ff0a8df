"""GET /metrics: every counter equals what the requests sent and the answers received add up to.

The expectations are computed here from the traffic itself (statuses seen by the client, the
predictions' own model_version / workload_kind / out_of_distribution / spec_hash), never read back
from the service; the exposition text is parsed by prometheus-client's parser and checked by the
real `promtool check metrics`.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app import __version__
from app.api import examples
from app.api.app import create_app
from app.api.metrics import BUCKETS
from app.core.settings import Settings
from tests.api.conftest import settings_for
from tests.conftest import need_binary

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def series(samples: Samples, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    """The samples of one metric name, keyed by the values of `keys` (other labels must not exist)."""
    out = {}
    for (n, labels), v in samples.items():
        if n == name:
            d = dict(labels)
            assert set(d) == set(keys), (name, d)
            out[tuple(d[k] for k in keys)] = v
    return out


class Traffic:
    """Sends requests and keeps what an outside observer knows about them."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.statuses: Counter[tuple[str, str]] = Counter()
        self.wall: Counter[tuple[str, str]] = Counter()
        self.predictions: list[dict[str, Any]] = []

    def send(self, route: str, method: str, url: str, **kw: Any) -> Any:
        started = time.perf_counter()
        r = self.client.request(method, url, **kw)
        elapsed = time.perf_counter() - started
        key = (route, str(r.status_code))
        self.statuses[key] += 1
        self.wall[key] += elapsed
        if r.status_code == 200 and url.startswith("/predict"):
            body = r.json()
            self.predictions += body.get("predictions", [body])
        return r


@pytest.fixture
def client(tiny_artifacts: tuple[Path, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tiny_artifacts, max_body_bytes=4096), background=False)) as c:
        yield c


def test_counters_match_the_traffic(client: TestClient) -> None:
    t = Traffic(client)
    t.send("/predict", "POST", "/predict", json=examples.PREDICT_CONTAINERS)
    t.send("/predict", "POST", "/predict", json=examples.PREDICT_CONTAINERS)  # same spec: a cache hit
    t.send("/predict", "POST", "/predict", json=examples.PREDICT_POD_SPEC)
    t.send("/predict", "POST", "/predict", json={"workload_kind": "Deployment"})  # 422
    t.send("/predict", "POST", "/predict", content=b"x" * 5000, headers={"Content-Type": "application/json"})  # 413
    t.send("/predict/from-yaml", "POST", "/predict/from-yaml", content=examples.YAML_MANY,
           headers={"Content-Type": "text/plain"})
    t.send("/healthz", "GET", "/healthz")
    t.send("/static", "GET", "/static/swagger-ui/swagger-ui.css")
    for i in range(20):  # a scanner: twenty paths, one series
        t.send("unmatched", "GET", f"/wp-admin/{i}.php")
    assert t.statuses[("/predict", "200")] == 3 and t.statuses[("/predict", "413")] == 1
    assert t.statuses[("/predict", "422")] == 1 and t.statuses[("unmatched", "404")] == 20

    samples = scrape(client)
    requests = series(samples, "podpower_http_requests_total", "route", "status")
    assert requests == {k: float(v) for k, v in t.statuses.items()}

    # the histogram: +Inf bucket = count = requests; buckets cumulative; time inside the app <= the client's wall time
    for (route, status), n in requests.items():
        buckets = [samples[("podpower_http_request_duration_seconds_bucket",
                            tuple(sorted({"route": route, "status": status, "le": le}.items())))]
                   for le in [*(str(b) for b in BUCKETS), "+Inf"]]
        assert buckets == sorted(buckets) and buckets[-1] == n
        labels = (("route", route), ("status", status))
        assert samples[("podpower_http_request_duration_seconds_count", labels)] == n
        assert 0 < samples[("podpower_http_request_duration_seconds_sum", labels)] <= t.wall[(route, status)]

    # predictions: by the model version and kind the answers carry; out of distribution as the answers say
    assert len(t.predictions) == 5
    by_kind = Counter((p["model_version"], p["workload_kind"]) for p in t.predictions)
    ood = Counter((p["model_version"], p["workload_kind"]) for p in t.predictions if p.get("out_of_distribution"))
    assert series(samples, "podpower_predictions_total", "model_version", "workload_kind") == {
        k: float(v) for k, v in by_kind.items()}
    assert series(samples, "podpower_out_of_distribution_total", "model_version", "workload_kind") == {
        k: float(ood[k]) for k in by_kind}

    # cache: the first sight of a spec hash misses, every later one hits (the cache holds 4096)
    hashes = [p["spec_hash"] for p in t.predictions]
    assert samples[("podpower_prediction_cache_misses_total", ())] == len(set(hashes)) == 4
    assert samples[("podpower_prediction_cache_hits_total", ())] == len(hashes) - len(set(hashes)) == 1
    assert samples[("podpower_prediction_cache_entries", ())] == len(set(hashes))
    assert samples[("podpower_prediction_cache_capacity", ())] == Settings().encoding_cache_size

    ready = client.get("/readyz").json()
    assert samples[("podpower_model_ready", ())] == 1
    assert series(samples, "podpower_model_info", "model_version") == {(ready["model_version"],): 1}
    assert 0 < samples[("podpower_model_load_seconds", ())] < 120
    ((labels, value),) = [(dict(k), v) for (n, k), v in samples.items() if n == "podpower_build_info"]
    assert labels["version"] == __version__ and value == 1
    assert samples[("process_resident_memory_bytes", ())] > 0


def test_not_ready_is_exported(tiny_artifacts: tuple[Path, Path]) -> None:
    def broken(settings: Settings) -> Any:
        raise FileNotFoundError("no model here")

    with TestClient(create_app(settings_for(tiny_artifacts), loader=broken, background=False)) as c:
        assert c.post("/predict", json=examples.PREDICT_CONTAINERS).status_code == 503
        samples = scrape(c)
    assert samples[("podpower_model_ready", ())] == 0
    assert series(samples, "podpower_http_requests_total", "route", "status") == {("/predict", "503"): 1}
    assert not [n for n, _ in samples if n.startswith(("podpower_prediction_cache", "podpower_model_info",
                                                        "podpower_model_load"))]


def test_routes_behind_a_prefix_keep_their_label(tiny_artifacts: tuple[Path, Path]) -> None:
    with TestClient(create_app(settings_for(tiny_artifacts), background=False), root_path="/podpower") as c:
        assert c.get("/podpower/healthz").status_code == 200
        assert c.get("/podpower/static/swagger-ui/favicon-32x32.png").status_code == 200
        requests = series(scrape(c), "podpower_http_requests_total", "route", "status")
    assert requests == {("/healthz", "200"): 1, ("/static", "200"): 1}


def test_promtool_accepts_the_exposition(client: TestClient) -> None:
    promtool = need_binary("promtool", "apt-get install prometheus")
    client.post("/predict", json=examples.PREDICT_CONTAINERS)
    text = client.get("/metrics").text
    run = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (run.stdout + run.stderr).strip() == "", "promtool's lint found problems"
