"""What the running service holds: settings, the predictor once loaded, or why it is not.

Loading happens off the request path (a thread started by the app's lifespan), so `/healthz`
answers at once and `/readyz` tells the orchestrator when predictions can be served. Missing or
corrupt artifacts are not fatal: the process logs one line saying which file and why, keeps
answering `/healthz`, and every predict endpoint returns 503 with that reason.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.core.errors import NotReadyError
from app.core.schema import InferenceRequest
from app.core.settings import Settings
from app.workloads.convert import complete_request
from app.workloads.yamlload import YamlLimits

if TYPE_CHECKING:  # importing the predictor pulls in scikit-learn: done by the loader, not at import
    from app.serving.batching import MissBatcher
    from app.serving.predictor import Predictor

log = logging.getLogger("app.api")

Loader = Callable[[Settings], "Predictor"]


def load_predictor(settings: Settings) -> Predictor:
    """Load the encoder and model from the configured paths and run one encoding to warm them up.

    The warm-up loads the SBERT model (when the encoder uses it) and numpy's code paths now rather
    than in the first user's request; it goes around the predictor's cache so nothing is cached.
    """
    from app.api.examples import PREDICT_CONTAINERS
    from app.serving.predictor import Predictor

    predictor = Predictor.load(settings.encoder_path, settings.model_path, cache_size=settings.encoding_cache_size)
    probe = complete_request(InferenceRequest.model_validate(PREDICT_CONTAINERS))
    predictor.model.predict(predictor.encoder.transform([probe]))
    return predictor


def _single_threaded_blas() -> None:
    """One BLAS thread: a request multiplies one row by the training matrix, too small to split, and
    BLAS worker threads spinning on the second core slowed /predict by a third under load (measured
    with wrk on 2 cores). Process-wide, which is right for a server process."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # comes with scikit-learn; without it we just keep the default
        return
    threadpool_limits(limits=1, user_api="blas")


@dataclass
class ServiceState:
    settings: Settings
    yaml_limits: YamlLimits
    predictor: Predictor | None = None
    status: str = "loading"
    reason: str = "loading the encoder and model"
    load_seconds: float | None = None
    """How long the last successful load took (encoder + model + warm-up); exported by /metrics."""
    encode_limiter: Any = None
    """One slow (SBERT) prediction at a time in the thread pool: torch already uses every core, and
    16 concurrent encodes measured 20 req/s against ~45 for one at a time. Set by the lifespan."""
    yaml_limiter: Any = None
    """Large YAML bodies parsed and converted in the thread pool at once (`YAML_CONVERSIONS_AT_ONCE`).
    Set by the lifespan."""
    _thread: threading.Thread | None = field(default=None, repr=False)
    _batcher: MissBatcher | None = field(default=None, repr=False)

    def miss_batch_counts(self) -> tuple[int, int]:
        """Batches of misses computed so far and the rows in them (zeros before the first request)."""
        batcher = self._batcher
        if batcher is None:
            return 0, 0
        return (batcher.one.batches + batcher.many.batches, batcher.one.items + batcher.many.items)

    def require_batcher(self) -> MissBatcher:
        """The predictor's `MissBatcher` (made on first use, in the event loop's thread); 503 until loaded.

        Its batches compute inline, or in the thread pool one at a time (`encode_limiter`) for a slow
        (SBERT) encoder, while the next batch queues.
        """
        predictor = self.require_predictor()
        batcher = self._batcher
        if batcher is None or batcher.predictor is not predictor:
            from app.api.routes.offload import batch_runner
            from app.serving.batching import MissBatcher

            batcher = self._batcher = MissBatcher(predictor, batch_runner(predictor, self.encode_limiter))
        return batcher

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceState:
        limits = YamlLimits(
            max_aliases=settings.yaml_max_aliases, max_depth=settings.yaml_max_depth, max_nodes=settings.yaml_max_nodes
        )
        return cls(settings=settings, yaml_limits=limits)

    def require_predictor(self) -> Predictor:
        predictor = self.predictor
        if predictor is None:
            raise NotReadyError(f"model not loaded ({self.status}): {self.reason}")
        return predictor

    def load(self, loader: Loader = load_predictor) -> None:
        """Load now (in the calling thread); failures are recorded and logged, never raised."""
        started = time.perf_counter()
        s = self.settings
        try:
            predictor = loader(s)
        except Exception as exc:  # any failure must leave the process serving /healthz and 503s
            self.status = "failed"
            self.reason = str(exc) if str(exc) else type(exc).__name__
            log.error("not ready: cannot load the model: %s", self.reason)
            return
        self.load_seconds = time.perf_counter() - started
        self.predictor = predictor
        _single_threaded_blas()
        self.status, self.reason = "ready", f"model {predictor.model_version} loaded"
        # Everything loaded so far lives as long as the process: move it out of the collector's
        # generations, so full collections stay short and do not show up in p99 latency.
        gc.collect()
        gc.freeze()
        log.info("ready: model %s from %s and %s in %.1f s", predictor.model_version, s.encoder_path, s.model_path,
                 self.load_seconds)

    def start_loading(self, loader: Loader = load_predictor) -> None:
        """Load in a daemon thread, so shutdown never waits for a slow (SBERT) load."""
        self._thread = threading.Thread(target=self.load, args=(loader,), name="load-model", daemon=True)
        self._thread.start()
