"""Prometheus metrics of the API, exposed by `GET /metrics` in the text exposition format (prometheus-client).

What is exported (all names start with `podpower_`):
  http_requests_total{route,status}, http_request_duration_seconds{route,status} (histogram, BUCKETS),
  predictions_total{model_version,workload_kind}, out_of_distribution_total{model_version,workload_kind},
  prediction_cache_{hits,misses}_total, prediction_cache_{entries,capacity}, model_ready, model_load_seconds,
  model_info{model_version}, build_info{version,python}; plus prometheus-client's process_*, python_* metrics.

Rule: recording costs the request path a few dictionary operations and nothing else. The hot path
(/predict) is benchmarked against a bare FastAPI app (bench/bench_api.py), so:
  * requests are timed by `MetricsMiddleware`, a pure ASGI middleware (Starlette's BaseHTTPMiddleware
    would add a task and a stream per request), and counted into plain dicts of ints;
  * predictions are counted by the routes, after the prediction, into a plain dict;
  * cache hits and misses are counted by the predictor itself (under the lock it already takes), model
    readiness and load time are read from the service state;
  * everything is turned into metric families only when /metrics is scraped (`ApiMetrics.collect`).
Guarantees: recording and scraping both run on the event loop's thread (the middleware, the `async`
routes after their `await`, the `async` /metrics route), so the plain counters need no lock and a scrape
sees a consistent state. `route` takes only the app's own route paths, `/static` or `unmatched`, so a
scanner probing random URLs cannot grow the number of series.
"""

from __future__ import annotations

import platform
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from app.api.service import ServiceState
    from app.core.schema import Prediction

PREFIX = "podpower"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""Text format 0.0.4, which every Prometheus reads (the names here need none of 1.0.0's escaping)."""
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Latency bucket bounds (s): fine below 25 ms (the /predict p99 target), coarse up to SBERT-sized requests."""
STATIC_ROUTE = "/static"
UNMATCHED_ROUTE = "unmatched"


class _Histogram:
    """One (route, status) series: counts per bucket (not cumulative; the last is +Inf) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0


class ApiMetrics:
    """The counters of one app, and the prometheus-client collector that exports them (its own registry,
    so several apps in one process, as in the tests, do not share or clash)."""

    def __init__(self, service: ServiceState, version: str) -> None:
        self.service = service
        self.version = version
        self._routes: dict[str, str] = {}
        self._requests: dict[tuple[str, int], _Histogram] = {}
        self._predictions: dict[tuple[str, str], list[int]] = {}  # (model_version, kind) -> [all, out of dist.]
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def set_routes(self, paths: Iterable[str]) -> None:
        """The paths that get a `route` label of their own (the app's routes, set once they are installed)."""
        self._routes = {p: p for p in paths}

    def route_of(self, scope: Scope) -> str:
        """The `route` label; call it before the app runs (routing rewrites `root_path` in the scope)."""
        path = scope["path"]
        route = self._routes.get(path)
        if route is not None:
            return route
        root = scope.get("root_path", "")
        if root and path.startswith(root):  # behind a prefix: match on the path the router sees
            path = path[len(root):]
            route = self._routes.get(path)
            if route is not None:
                return route
        return STATIC_ROUTE if path.startswith(STATIC_ROUTE + "/") else UNMATCHED_ROUTE

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        h = self._requests.get(key)
        if h is None:
            h = self._requests[key] = _Histogram()
        h.counts[bisect_left(BUCKETS, seconds)] += 1  # bisect_left: a value equal to a bound is in that bucket (le)
        h.total += seconds

    def predicted(self, predictions: Iterable[Prediction]) -> None:
        for p in predictions:
            key = (p.model_version, p.workload_kind)
            counts = self._predictions.get(key)
            if counts is None:
                counts = self._predictions[key] = [0, 0]
            counts[0] += 1
            if p.out_of_distribution:
                counts[1] += 1

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """prometheus-client's collector protocol: the metric families, built from the counters at scrape time."""
        labels = ["route", "status"]
        requests = CounterMetricFamily(f"{PREFIX}_http_requests", "HTTP requests answered, by route and status.",
                                       labels=labels)
        latency = HistogramMetricFamily(f"{PREFIX}_http_request_duration_seconds",
                                        "Time from the request reaching the app to the end of its response.",
                                        labels=labels)
        bounds = [floatToGoString(b) for b in BUCKETS] + ["+Inf"]
        for (route, status), h in sorted(self._requests.items()):
            values = [route, str(status)]
            cumulative, running = [], 0
            for bound, n in zip(bounds, h.counts, strict=True):
                running += n
                cumulative.append((bound, running))
            requests.add_metric(values, running)
            latency.add_metric(values, cumulative, h.total)
        yield requests
        yield latency

        kinds = ["model_version", "workload_kind"]
        predictions = CounterMetricFamily(f"{PREFIX}_predictions", "Predictions served, by model and workload kind.",
                                          labels=kinds)
        ood = CounterMetricFamily(f"{PREFIX}_out_of_distribution",
                                  "Predictions flagged out_of_distribution (the spec is far from every training "
                                  "workload), by model and workload kind.", labels=kinds)
        for key, (n, n_ood) in sorted(self._predictions.items()):
            predictions.add_metric(list(key), n)
            ood.add_metric(list(key), n_ood)
        yield predictions
        yield ood

        service = self.service
        predictor = service.predictor
        yield GaugeMetricFamily(f"{PREFIX}_model_ready", "1 once the encoder and model are loaded (/readyz is 200).",
                                value=0 if predictor is None else 1)
        if service.load_seconds is not None:
            yield GaugeMetricFamily(f"{PREFIX}_model_load_seconds", "Time the encoder and model took to load.",
                                    value=service.load_seconds)
        if predictor is not None:
            info = InfoMetricFamily(f"{PREFIX}_model", "The loaded model.")
            info.add_metric([], {"model_version": predictor.model_version})
            yield info
            cache = predictor.cache_info()
            yield CounterMetricFamily(f"{PREFIX}_prediction_cache_hits", "Prediction cache look-ups that hit.",
                                      value=predictor.cache_hits)
            yield CounterMetricFamily(f"{PREFIX}_prediction_cache_misses", "Prediction cache look-ups that missed.",
                                      value=predictor.cache_misses)
            yield GaugeMetricFamily(f"{PREFIX}_prediction_cache_entries", "Specs in the prediction cache.",
                                    value=cache["size"])
            yield GaugeMetricFamily(f"{PREFIX}_prediction_cache_capacity", "Maximum specs in the prediction cache.",
                                    value=cache["max"])
            batches, rows = service.miss_batch_counts()
            yield CounterMetricFamily(f"{PREFIX}_miss_batches", "Batches of cache misses computed together "
                                      "(app.serving.batching); rows / batches is the mean batch size.", value=batches)
            yield CounterMetricFamily(f"{PREFIX}_miss_batch_rows", "Requests (or YAML workloads) whose miss was "
                                      "computed in a batch.", value=rows)
        build = InfoMetricFamily(f"{PREFIX}_build", "The running service's version.")
        build.add_metric([], {"version": self.version, "python": platform.python_version()})
        yield build


class MetricsMiddleware:
    """Times every HTTP request and records it with its route and status (pure ASGI: one wrapped `send`)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.metrics.route_of(scope)
        started = perf_counter()
        status = 500  # what the client gets if the app raises before starting a response

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(route, status, perf_counter() - started)
