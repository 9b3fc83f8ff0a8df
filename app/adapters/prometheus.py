"""Prometheus HTTP API client (adapter): instant and range queries, chunked, retried, authenticated.

Long ranges are split so no request asks for more than `max_points` samples per series
(Prometheus refuses more than 11,000 with a 400); chunks are aligned on the step so their
samples stitch together with no gap and no duplicate. Timeouts, connection errors and 5xx are
retried with jittered exponential backoff; 4xx answers (bad query, bad parameters) are not,
and come back as one clear error with Prometheus' own message.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from app.core.errors import UpstreamError

try:  # optional: 3-5x faster JSON for large range answers
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None

log = logging.getLogger(__name__)
MAX_POINTS = 11_000


@dataclass
class Series:
    """One time series: its labels and (unix seconds, value) samples in time order."""

    labels: dict[str, str]
    samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))


class PromClient:
    """A small, dependable client for `/api/v1/query`, `/query_range`, `/series`, `/label/…/values`."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        ca_file: str | None = None,
        insecure: bool = False,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_points: int = 10_000,
        compress: bool | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise UpstreamError(f"Prometheus URL must start with http:// or https://, got {url!r}")
        if max_points > MAX_POINTS:
            raise ValueError(f"max_points cannot exceed Prometheus' limit of {MAX_POINTS}")
        self.url = url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_points = max_points
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if compress is None:  # gzip halves loopback throughput (Prometheus spends more time compressing)
            compress = httpx.URL(self.url).host not in ("127.0.0.1", "localhost", "::1")
        if not compress:
            headers["Accept-Encoding"] = "identity"
        verify: bool | str = False if insecure else (ca_file or True)
        self._http = httpx.Client(base_url=self.url, headers=headers, verify=verify, timeout=timeout_s,
                                  transport=transport)
        self.requests_made = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PromClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any]) -> Any:
        """GET (POST-form for long queries) with retries; returns the `data` field of a success answer."""
        attempt = 0
        while True:
            attempt += 1
            self.requests_made += 1
            try:
                if len(str(params.get("query", ""))) > 4000:
                    resp = self._http.post(path, data=params)
                else:
                    resp = self._http.get(path, params=params)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt <= self.retries:
                    self._sleep(attempt, f"{type(exc).__name__} on {path}")
                    continue
                what = "timed out" if isinstance(exc, httpx.TimeoutException) else "is unreachable"
                raise UpstreamError(f"Prometheus at {self.url} {what} ({type(exc).__name__}: {exc})") from None
            if resp.status_code >= 500 and attempt <= self.retries:
                self._sleep(attempt, f"HTTP {resp.status_code} on {path}")
                continue
            return self._data(resp, path, params)

    def _sleep(self, attempt: int, why: str) -> None:
        delay = self.backoff_s * (2 ** (attempt - 1)) * (0.5 + random.random())
        log.warning("Prometheus: %s; retry %d/%d in %.2fs", why, attempt, self.retries, delay)
        time.sleep(delay)

    def _data(self, resp: httpx.Response, path: str, params: dict[str, Any]) -> Any:
        try:
            body = _orjson.loads(resp.content) if _orjson is not None else resp.json()
        except ValueError:
            body = None
        if resp.status_code == 200 and isinstance(body, dict) and body.get("status") == "success":
            return body.get("data")
        query = params.get("query") or params.get("match[]") or ""
        if isinstance(body, dict) and body.get("status") == "error":
            detail = f"{body.get('errorType', 'error')}: {body.get('error', '')}"
        else:
            detail = resp.text[:200].strip() or resp.reason_phrase
        hint = {401: " (check PROM_TOKEN)", 403: " (the token lacks access)", 404: " (is this a Prometheus URL?)"}
        raise UpstreamError(
            f"Prometheus {path} answered HTTP {resp.status_code}{hint.get(resp.status_code, '')}: {detail}"
            + (f" [query: {str(query)[:200]}]" if query else "")
        )

    # -- API ----------------------------------------------------------------------------------------
    def query(self, expr: str, at: float | None = None) -> list[Series]:
        """Instant query; each series carries one sample."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = _fmt(at)
        data = self._get("/api/v1/query", params)
        if data.get("resultType") == "scalar":
            t, v = data["result"]
            return [Series({}, [(float(t), float(v))])]
        return [Series(r["metric"], [(float(r["value"][0]), float(r["value"][1]))]) for r in data["result"]]

    def chunks(self, start: float, end: float, step: float) -> Iterator[tuple[float, float]]:
        """Step-aligned [start, end] sub-ranges, each with at most `max_points` samples, no overlap."""
        if end < start:
            raise UpstreamError(f"range end {end} is before start {start}")
        if step <= 0:
            raise UpstreamError(f"step must be positive, got {step}")
        n_total = math.floor((end - start) / step + 1e-9) + 1
        per = self.max_points
        for i in range(0, n_total, per):
            s = start + i * step
            e = start + min(i + per, n_total) * step - step
            yield s, e

    def query_range(
        self,
        expr: str,
        start: float,
        end: float,
        step: float,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Series]:
        """Range query split into chunks; samples of the same series are stitched in time order."""
        merged: dict[tuple[tuple[str, str], ...], Series] = {}
        chunks = list(self.chunks(start, end, step))
        for i, (s, e) in enumerate(chunks):
            for series in self.query_range_chunk(expr, s, e, step):
                have = merged.setdefault(series.key, Series(series.labels))
                have.samples.extend(series.samples)
            if progress:
                progress(i + 1, len(chunks))
        return list(merged.values())

    def query_range_chunk(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._get(
            "/api/v1/query_range", {"query": expr, "start": _fmt(start), "end": _fmt(end), "step": _fmt(step)}
        )
        return [Series(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in data["result"]]

    def iter_range(
        self, expr: str, start: float, end: float, step: float, chunk_points: int | None = None
    ) -> Iterator[list[tuple[dict[str, str], np.ndarray, np.ndarray]]]:
        """Stream a range query chunk by chunk as numpy arrays: per chunk, [(labels, times, values)].

        `chunk_points` (≤ `max_points`) bounds the samples per series per request, hence memory:
        a long range over thousands of series is never held in memory at once.
        """
        per = min(chunk_points or self.max_points, self.max_points)
        saved, self.max_points = self.max_points, per
        try:
            windows = list(self.chunks(start, end, step))
        finally:
            self.max_points = saved

        def fetch(window: tuple[float, float]) -> Any:
            s, e = window
            return self._get(
                "/api/v1/query_range", {"query": expr, "start": _fmt(s), "end": _fmt(e), "step": _fmt(step)}
            )

        # one request in flight ahead: the server encodes the next chunk while this one is parsed
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(fetch, windows[0]) if windows else None
            for n in range(len(windows)):
                assert pending is not None
                data = pending.result()
                pending = pool.submit(fetch, windows[n + 1]) if n + 1 < len(windows) else None
                out = []
                for r in data["result"]:
                    vals = r["values"]
                    k = len(vals)
                    t = np.fromiter((p[0] for p in vals), dtype=np.float64, count=k)
                    v = np.fromiter((float(p[1]) for p in vals), dtype=np.float64, count=k)
                    out.append((r["metric"], t, v))
                del data
                yield out

    def metric_names(self, start: float | None = None, end: float | None = None,
                     match: str | None = None) -> list[str]:
        """Metric names with samples in [start, end] (optionally only those matching a selector)."""
        params: dict[str, Any] = {}
        if match:
            params["match[]"] = match
        if start is not None:
            params["start"] = _fmt(start)
        if end is not None:
            params["end"] = _fmt(end)
        return list(self._get("/api/v1/label/__name__/values", params))

    def series(self, match: str, start: float | None = None, end: float | None = None) -> list[dict[str, str]]:
        params: dict[str, Any] = {"match[]": match}
        if start is not None:
            params["start"] = _fmt(start)
        if end is not None:
            params["end"] = _fmt(end)
        return list(self._get("/api/v1/series", params))

    def ready(self) -> bool:
        try:
            return self._http.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False


def _fmt(value: float) -> str:
    """Prometheus accepts float seconds; avoid exponent notation and float noise."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def client_from_settings(url: str | None = None, **overrides: Any) -> PromClient:
    """A client configured from `Settings` (PROM_URL, PROM_TOKEN, PROM_CA_FILE, PROM_INSECURE)."""
    from app.core.settings import get_settings

    s = get_settings()
    target = url or s.prom_url
    if not target:
        raise UpstreamError("no Prometheus URL: pass --prom URL or set PROM_URL")
    params: dict[str, Any] = {
        "token": s.prom_token, "ca_file": s.prom_ca_file, "insecure": s.prom_insecure, "timeout_s": s.prom_timeout_s
    }
    params.update({k: v for k, v in overrides.items() if v is not None})
    return PromClient(target, **params)
