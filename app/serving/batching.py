"""Dynamic batching of cache misses: requests that arrive together are computed together.

The rule: a request whose spec is not in the cache queues its miss and waits; the first one to
queue schedules a drain, which runs after every request already read from the sockets has queued
its own (asyncio runs ready callbacks in order, and the drain is scheduled behind them). The drain
computes the whole queue as one batch (`Predictor.misses`: one encoding call, one block neighbour
search) and wakes each waiter with its row. Under load, a server busy with one request reads the
next several in one go, so batches grow exactly when the per-request cost matters; a lone request
is a batch of one and takes the one-row path, so an idle server's latency does not change.

Why it pays: a miss's cost is mostly memory traffic (the model's training matrix, the encoder's
tables) that the framework's own work between two requests pushes out of the CPU caches; a batch
reads them once (`bench/bench_api.py` measures the gain against the ceiling).

Guarantees:
- the answers do not depend on the grouping: `Predictor.misses` gives `_miss_one`'s floats for every
  row, to the bit (tests/serving/test_batching.py);
- one failing row does not fail the others: a batch that raises is retried row by row, and only
  the rows that raise again get the exception;
- a waiter that is cancelled (its client went away) is skipped, and the batch still completes for
  the others;
- `run` decides where the batch computes: inline on the event loop (the default encoder: a batch
  costs well under a millisecond) or in a worker thread (SBERT), where the next batch queues meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from app.core.schema import InferenceRequest, Prediction
    from app.serving.predictor import Predictor

T = TypeVar("T")
R = TypeVar("R")

Runner = Callable[[Callable[[], list[R]]], Awaitable[list[R]]]


async def run_inline(fn: Callable[[], list[R]]) -> list[R]:
    """The default `Runner`: compute on the event loop's thread."""
    return fn()


class Coalescer(Generic[T, R]):
    """Queues items from concurrent coroutines and computes them in batches of at most `max_batch`.

    `compute(items)` returns one result per item, in order. One instance per event loop.
    """

    def __init__(self, compute: Callable[[Sequence[T]], list[R]], run: Runner[R] = run_inline,
                 max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._compute = compute
        self._run = run
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._drain_task: asyncio.Task[None] | None = None
        self.batches = 0
        """Batches computed (with `items`, their mean size: what /metrics and the benchmark report)."""
        self.items = 0

    async def submit(self, item: T) -> R:
        """The result for `item`, computed in a batch with the items queued alongside it."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._drain_task is None:
            self._drain_task = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                items = [item for item, _ in batch]
                self.batches += 1
                self.items += len(items)
                try:
                    results = await self._run(lambda items=items: self._compute(items))  # type: ignore[misc]
                except Exception:
                    await self._one_by_one(batch)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._drain_task = None

    async def _one_by_one(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        """After a failed batch: each item alone, so only the items that fail again get the error."""
        for item, future in batch:
            try:
                result = (await self._run(lambda item=item: self._compute([item])))[0]  # type: ignore[misc]
            except Exception as exc:  # handed to the waiter, whose route maps it to a status
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(result)


class MissBatcher:
    """`Predictor.predict` and `predict_many` for the event loop, with the misses of concurrent requests
    computed as batches.

    The same three steps as the predictor's (`prepare`, the miss, `finish`), so the same answers; only
    the misses go through a `Coalescer`, one per arithmetic (`Predictor.misses`). `run` is where a batch
    computes (see the module docstring).
    """

    def __init__(self, predictor: Predictor, run: Runner[Any] = run_inline, max_batch: int = 64) -> None:
        self.predictor = predictor
        self.one: Coalescer[tuple[InferenceRequest, str], Any] = Coalescer(
            lambda items: predictor.misses([r for r, _ in items], [h for _, h in items]), run, max_batch)
        self.many: Coalescer[tuple[InferenceRequest, str], Any] = Coalescer(
            lambda items: predictor.misses([r for r, _ in items], [h for _, h in items], batch_arithmetic=True),
            run, max_batch)

    async def predict(self, request: InferenceRequest, source: str = "<request>", *, explain: bool = False,
                      hours: float | None = None, grid_gco2_per_kwh: float | None = None,
                      pue: float | None = None, nodes: int | None = None) -> Prediction:
        predictor = self.predictor
        req, spec_hash, cached = predictor.prepare(request, source, hours=hours,
                                                   grid_gco2_per_kwh=grid_gco2_per_kwh, nodes=nodes)
        if cached is None:
            cached = await self.one.submit((req, spec_hash))
        return predictor.finish(req, spec_hash, cached, source, explain=explain, hours=hours,
                                grid_gco2_per_kwh=grid_gco2_per_kwh, pue=pue, nodes=nodes)

    async def predict_many(self, requests: Sequence[InferenceRequest], source: str = "<request>", *,
                           explain: bool = False, hours: float | None = None,
                           grid_gco2_per_kwh: float | None = None, pue: float | None = None,
                           nodes: int | None = None) -> list[Prediction]:
        predictor = self.predictor
        done, hashes, results = predictor.prepare_many(requests, source, hours=hours,
                                                       grid_gco2_per_kwh=grid_gco2_per_kwh, nodes=nodes)
        missing = [i for i, hit in enumerate(results) if hit is None]
        if missing:
            computed = await asyncio.gather(*(self.many.submit((done[i], hashes[i])) for i in missing))
            for i, item in zip(missing, computed, strict=True):
                results[i] = item
        return predictor.finish_many(done, hashes, results, source, explain=explain,  # type: ignore[arg-type]
                                     hours=hours, grid_gco2_per_kwh=grid_gco2_per_kwh, pue=pue, nodes=nodes)
