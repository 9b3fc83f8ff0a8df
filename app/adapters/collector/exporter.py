"""`collect watch --metrics-port N`: the collector as a Prometheus exporter of predicted power.

Rule: every workload the watch sees alive (listed, added or modified, template changed or not) has
its current prediction published; a deleted workload's series disappear at the next scrape (a custom
collector renders the current table on each scrape, so no stale label set outlives its workload).
Series, labelled `namespace`, `workload_kind`, `workload` (the top controller, as the energy labels
name it):

* `podpower_predicted_watts` — average power of ALL replicas, W (`pred_power_w_all_replicas`);
  `podpower_predicted_watts_low` / `_high` — its interval bounds;
* `podpower_predicted_watts_per_pod` (and `_low` / `_high`) — one pod;
* `podpower_predicted_replicas` — pods the prediction counts (a DaemonSet: its desired node count);
* `podpower_predicted_out_of_distribution` — 1 when the spec is far from every training workload;
* `podpower_model_info{model_version}` 1 — which model answered (the API's /metrics has the same
  series); `podpower_predicted_interval_level` — the intervals' nominal coverage, 0–1;
* `podpower_exporter_workloads`, `podpower_exporter_prediction_errors_total`.

The predictor is passed in as a function (this adapter does not import the serving layer: the CLI
wires them). Predictions are cached by spec hash in the predictor, so re-seeing a workload on a status
update costs a dictionary lookup. Served over HTTP by prometheus-client's own server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import CollectorRegistry

from app.adapters.collector.objects import WatchedObject
from app.core.errors import PodPowerError
from app.core.schema import InferenceRequest, Prediction

log = logging.getLogger("app.adapters.collector.exporter")

PredictFn = Callable[[InferenceRequest, "int | None"], Prediction]
"""(request, node count for a DaemonSet or None) → prediction."""
LABELS = ("namespace", "workload_kind", "workload")
_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("podpower_predicted_watts", "pred_power_w_all_replicas",
     "Predicted average power of all replicas of the workload, W."),
    ("podpower_predicted_watts_low", "pred_power_w_all_replicas_low",
     "Lower bound of the predicted all-replica power interval, W."),
    ("podpower_predicted_watts_high", "pred_power_w_all_replicas_high",
     "Upper bound of the predicted all-replica power interval, W."),
    ("podpower_predicted_watts_per_pod", "pred_power_w_per_pod", "Predicted average power of one pod, W."),
    ("podpower_predicted_watts_per_pod_low", "pred_avg_power_w_low", "Lower bound per pod, W."),
    ("podpower_predicted_watts_per_pod_high", "pred_avg_power_w_high", "Upper bound per pod, W."),
    ("podpower_predicted_replicas", "replicas", "Pods the prediction counts (a DaemonSet: its nodes)."),
    ("podpower_predicted_out_of_distribution", "out_of_distribution",
     "1 when the spec is far from every training workload (the prediction leans on the physics prior)."),
)


class PredictionExporter:
    """The tracker's observer: keeps the current prediction per workload and renders it on scrape."""

    def __init__(self, predict: PredictFn) -> None:
        self._predict = predict
        self._lock = threading.Lock()
        self._current: dict[str, Prediction] = {}
        self.errors = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # type: ignore[arg-type]  # prometheus-client's duck-typed Collector
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- tracker observer ------------------------------------------------------------------------
    def seen(self, obj: WatchedObject, req: InferenceRequest) -> None:
        try:
            pred = self._predict(req, obj.nodes)
        except PodPowerError as exc:
            with self._lock:
                self.errors += 1
                self._current.pop(obj.key, None)
            log.warning("cannot predict %s: %s", obj.describe(), exc)
            return
        with self._lock:
            self._current[obj.key] = pred

    def gone(self, key: str) -> None:
        with self._lock:
            self._current.pop(key, None)

    def __len__(self) -> int:
        return len(self._current)

    # -- prometheus-client collector -------------------------------------------------------------
    def collect(self) -> Iterator[Any]:
        with self._lock:
            preds = list(self._current.values())
            errors = self.errors
        for name, attr, doc in _GAUGES:
            family = GaugeMetricFamily(name, doc, labels=LABELS)
            for p in preds:
                value = getattr(p, attr)
                if value is not None:
                    family.add_metric([p.namespace, p.workload_kind, p.workload_name], float(value))
            yield family
        info = InfoMetricFamily("podpower_model", "The model that made the predictions.", labels=("model_version",))
        for version in sorted({p.model_version for p in preds}):
            info.add_metric([version], {})
        yield info
        levels = {p.interval_level for p in preds if p.interval_level is not None}
        if levels:
            yield GaugeMetricFamily("podpower_predicted_interval_level", "Nominal coverage of the predicted "
                                    "intervals, 0-1.", value=max(levels))
        yield GaugeMetricFamily("podpower_exporter_workloads", "Workloads with a published prediction.",
                                value=len(preds))
        yield CounterMetricFamily("podpower_exporter_prediction_errors", "Workloads the model could not predict.",
                                  value=errors)

    # -- HTTP ------------------------------------------------------------------------------------
    def serve(self, port: int, addr: str = "0.0.0.0") -> int:
        """Serve `/metrics` on a background thread; returns the bound port (0 picks a free one)."""
        self._server, self._thread = start_http_server(port, addr, registry=self.registry)
        bound = int(self._server.server_address[1])
        log.info("serving predicted power metrics on http://%s:%d/metrics", addr, bound)
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
