"""What every prediction route shares: where the work runs.

Prediction runs in the event loop: with the default encoder a miss costs a fraction of a
millisecond, less than the thread pool hand-off, and the misses of requests that arrive together are
computed as one batch (`app.serving.batching`). With SBERT (milliseconds of torch per miss) each batch
computes in the thread pool (`batch_runner`), and parsing a big YAML body does too (`run`), so other
requests and `/healthz` keep flowing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from app.serving.batching import Runner
    from app.serving.predictor import Predictor

T = TypeVar("T")


async def run(offload: bool, fn: Callable[..., T], *args: Any, limiter: Any = None) -> T:
    if not offload:
        return fn(*args)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)


def slow_encoder(predictor: Predictor) -> bool:
    """SBERT encodes in milliseconds (torch, which releases the GIL): worth the thread pool."""
    return bool(getattr(predictor.encoder, "sbert_dim_", 0))


def batch_runner(predictor: Predictor, limiter: Any) -> Runner[Any]:
    """Where a `MissBatcher`'s batches compute: inline, or in the thread pool for a slow encoder."""
    from app.serving.batching import run_inline

    if not slow_encoder(predictor):
        return run_inline

    async def in_thread(fn: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(fn, limiter=limiter)

    return in_thread
