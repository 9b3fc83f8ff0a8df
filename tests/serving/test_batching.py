"""Dynamic batching of cache misses (`app.serving.batching`) changes no answer and loses no request.

- `ServingExtras.query_rows` (a block searched together, each row in `query_one`'s arithmetic) is
  `query_one` row by row, to the bit, through every branch (the random models of test_one_row_twins);
- `Predictor.misses` gives the same floats however the misses are grouped, in both arithmetics: the
  one-row answers of `predict` and the batch answers of `predict_many` — on the shipped model, over the
  example manifests and the corpus of real manifests;
- `Coalescer`: concurrent submissions form one batch, results go back in order, a failing item fails
  alone, a cancelled waiter does not stop the batch, `max_batch` splits, the thread runner works;
- `MissBatcher.predict` under `asyncio.gather` answers what `Predictor.predict` answers, one by one.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio.to_thread
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.adapters.files import read_requests
from app.core.schema import InferenceRequest
from app.ml.model import KNNEnergyRegressor
from app.serving.batching import Coalescer, MissBatcher
from app.serving.predictor import MIN_BATCH, Predictor
from app.workloads.convert import complete_request
from tests.serving.test_one_row_twins import _same, cases

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "corpus"


@st.composite
def blocks(draw: st.DrawFn) -> tuple:
    """A random model and a block of 1–7 queries (the first from `cases`, the rest near it)."""
    model, serving, x, request = draw(cases())
    rows = [x] + [x + np.array([draw(st.sampled_from([0.0, 0.0, 0.25, -1.0])) for _ in x])
                  for _ in range(draw(st.integers(0, 6)))]
    if model.metric == "cosine":
        rows = [r if np.linalg.norm(r) > 0 else r + 3.0 for r in rows]
    return model, serving, np.array(rows), [request] * len(rows)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks(), st.sampled_from([1.0, 1 / 60]))
def test_query_rows_is_query_one_to_the_bit(case: tuple, to_watts: float) -> None:
    model, serving, X, requests = case
    block = serving.query_rows(model, X, requests, to_watts)
    for row, served in enumerate(block):
        one = serving.query_one(model, X[row], requests[row], to_watts)
        assert _same(tuple(served), tuple(one)), (row, served, one)


# -- the shipped model, real manifests ------------------------------------------------------------------
@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(REPO / "artifacts" / "encoder.npz", REPO / "artifacts" / "knn_energy.npz", cache_size=0)


@pytest.fixture(scope="module")
def manifests() -> list[InferenceRequest]:
    paths = sorted((REPO / "example").glob("*.yaml")) + sorted(CORPUS.rglob("*.yaml"))
    found = [complete_request(r, "test") for p in paths for r in read_requests(p).requests]
    assert len(found) > 100  # the examples plus the corpus
    return found


def _cached_tuple(item: object) -> tuple:
    vector, power, served, reasons = item  # type: ignore[misc]
    return (vector.tobytes(), power, None if served is None else tuple(served), reasons)


def _groups(items: Sequence[InferenceRequest], seed: int) -> list[list[InferenceRequest]]:
    """The items shuffled into groups of 1–12 (so both sides of MIN_BATCH occur)."""
    rng = random.Random(seed)
    items = list(items)
    rng.shuffle(items)
    out = []
    while items:
        n = rng.randint(1, 12)
        out.append(items[:n])
        items = items[n:]
    return out


@pytest.fixture(scope="module")
def plain_predictor(predictor: Predictor, manifests: list[InferenceRequest]) -> Predictor:
    """The shipped encoder with a plain KNN (no serving extras), as `bench/artifacts.py` builds."""
    X = predictor.encoder.encode(manifests[::2])
    model = KNNEnergyRegressor(n_neighbors=5, metric="cosine").fit(X, np.linspace(0.5, 40.0, len(X)))
    return Predictor(predictor.encoder, model, {"target": "avg_power_w", "model_version": "plain"}, cache_size=0)


@pytest.mark.parametrize(("which", "batch_arithmetic"), [("shipped", False), ("shipped", True), ("plain", False)],
                         ids=["predict", "predict_many", "plain-knn"])
def test_misses_do_not_depend_on_the_grouping(predictor: Predictor, plain_predictor: Predictor,
                                              manifests: list[InferenceRequest], which: str,
                                              batch_arithmetic: bool) -> None:
    chosen = predictor if which == "shipped" else plain_predictor

    def misses(group: Sequence[InferenceRequest]) -> list:
        return chosen.misses(group, [r.spec_hash() for r in group], batch_arithmetic=batch_arithmetic)

    alone = {r.spec_hash(): _cached_tuple(misses([r])[0]) for r in manifests}
    sizes = []
    for seed in (1, 2):
        for group in _groups(manifests, seed):
            sizes.append(len(group))
            for r, item in zip(group, misses(group), strict=True):
                assert _same(_cached_tuple(item), alone[r.spec_hash()]), r.workload_name
    assert max(sizes) >= MIN_BATCH > min(sizes)
    if not batch_arithmetic:  # and alone, a miss is what `predict` answers
        for r in manifests[:30]:
            assert chosen.predict(r).pred_avg_power_w == alone[r.spec_hash()][1]


def test_one_row_misses_are_predicts_and_batch_misses_are_predict_manys(predictor: Predictor,
                                                                         manifests: list[InferenceRequest]) -> None:
    """The two arithmetics are the two public paths' answers (so each route keeps its own answers)."""
    for r in manifests[:40]:
        h = r.spec_hash()
        one = predictor.predict(r)
        many = predictor.predict_many([r])[0]
        assert one.pred_avg_power_w == predictor.misses([r], [h])[0].power_w
        assert many.pred_avg_power_w == predictor.misses([r], [h], batch_arithmetic=True)[0].power_w


def test_a_spec_twice_in_a_batch_is_computed_once(predictor: Predictor, manifests: list[InferenceRequest]) -> None:
    group = manifests[:6] + manifests[:3]
    out = predictor.misses(group, [r.spec_hash() for r in group])
    for i in range(3):
        assert out[i] is out[6 + i]


# -- the coalescer ----------------------------------------------------------------------------------------
class Recorder:
    def __init__(self, fail: set[int] | None = None) -> None:
        self.calls: list[list[int]] = []
        self.fail = fail or set()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.calls.append(list(items))
        if self.fail & set(items):
            raise ValueError(f"bad item in {list(items)}")
        return [i * 10 for i in items]


def test_concurrent_submissions_form_one_batch_in_order() -> None:
    compute = Recorder()

    async def main() -> list[int]:
        c = Coalescer(compute)
        return await asyncio.gather(*(c.submit(i) for i in range(9)))

    assert asyncio.run(main()) == [i * 10 for i in range(9)]
    assert compute.calls == [list(range(9))]


def test_a_lone_request_is_a_batch_of_one() -> None:
    compute = Recorder()

    async def main() -> list[int]:
        c = Coalescer(compute)
        return [await c.submit(i) for i in range(3)]

    assert asyncio.run(main()) == [0, 10, 20]
    assert compute.calls == [[0], [1], [2]]


def test_max_batch_splits_the_queue() -> None:
    compute = Recorder()

    async def main() -> list[int]:
        c = Coalescer(compute, max_batch=4)
        return await asyncio.gather(*(c.submit(i) for i in range(10)))

    assert asyncio.run(main()) == [i * 10 for i in range(10)]
    assert compute.calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_a_failing_item_fails_alone() -> None:
    compute = Recorder(fail={3})

    async def main() -> list[object]:
        c = Coalescer(compute)
        return await asyncio.gather(*(c.submit(i) for i in range(6)), return_exceptions=True)

    out = asyncio.run(main())
    assert [o for i, o in enumerate(out) if i != 3] == [0, 10, 20, 40, 50]
    assert isinstance(out[3], ValueError) and str(out[3]) == "bad item in [3]"


def test_a_cancelled_waiter_does_not_stop_the_batch() -> None:
    compute = Recorder()

    async def main() -> tuple[list[int], bool]:
        c = Coalescer(compute)
        tasks = [asyncio.ensure_future(c.submit(i)) for i in range(4)]
        await asyncio.sleep(0)  # every task has queued its item; the drain has not run yet
        tasks[1].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        later = await c.submit(7)  # the coalescer still works afterwards
        return [d for d in done if not isinstance(d, BaseException)] + [later], tasks[1].cancelled()

    results, cancelled = asyncio.run(main())
    assert results == [0, 20, 30, 70] and cancelled


def test_the_thread_runner_computes_off_the_loop_and_batches_meanwhile() -> None:
    import threading

    threads: list[str] = []

    def compute(items: Sequence[int]) -> list[int]:
        threads.append(threading.current_thread().name)
        return [i + 1 for i in items]

    async def in_thread(fn: Callable[[], list[int]]) -> list[int]:  # the runner shape of app.api.routes.offload
        return await anyio.to_thread.run_sync(fn)

    async def main() -> list[int]:
        c = Coalescer(compute, in_thread)
        first = asyncio.ensure_future(asyncio.gather(*(c.submit(i) for i in range(3))))
        await asyncio.sleep(0)
        more = asyncio.gather(*(c.submit(i) for i in range(10, 13)))  # queued while the first batch computes
        return list(await first) + list(await more)

    assert asyncio.run(main()) == [1, 2, 3, 11, 12, 13]
    assert threads and threading.main_thread().name not in threads
    assert len(threads) <= 2


def test_coalescer_refuses_a_batch_size_below_one() -> None:
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        Coalescer(Recorder(), max_batch=0)


# -- the batcher answers what the predictor answers -------------------------------------------------------
def test_miss_batcher_answers_as_predict(manifests: list[InferenceRequest]) -> None:
    fresh = Predictor.load(REPO / "artifacts" / "encoder.npz", REPO / "artifacts" / "knn_energy.npz", cache_size=0)
    expected = [fresh.predict(r, "body", explain=True, hours=24.0).model_dump_json() for r in manifests]
    expected_many = [p.model_dump_json() for p in fresh.predict_many(manifests[:20], "body", hours=5.0)]
    batcher = MissBatcher(Predictor.load(REPO / "artifacts" / "encoder.npz", REPO / "artifacts" / "knn_energy.npz"))

    async def main() -> tuple[list[str], list[str]]:
        got = await asyncio.gather(*(batcher.predict(r, "body", explain=True, hours=24.0) for r in manifests))
        many = await batcher.predict_many(manifests[:20], "body", hours=5.0)
        return [p.model_dump_json() for p in got], [p.model_dump_json() for p in many]

    got, many = asyncio.run(main())
    assert got == expected
    assert many == expected_many
    assert batcher.one.batches < len(manifests) // MIN_BATCH  # they were batched
    assert json.loads(got[0])["pred_avg_power_w"] > 0
