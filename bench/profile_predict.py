"""In-process profile of the prediction API's miss path: the ASGI app driven directly, no sockets.

    python bench/profile_predict.py                      # µs per request and per stage, all scenarios
    python bench/profile_predict.py --cprofile json      # + cProfile of /predict, distinct specs
    python bench/profile_predict.py --cprofile yaml -n 3000

Why: `bench_api.py` measures the service under wrk, which is what the targets are judged on, but its
figures move ±10% with the machine; this drives the same app (`create_app`, the real routes, the
middleware, the same artifacts) with the benchmark's own bodies (`bench_api.JSON_BODY`, `YAML_BODY`,
a distinct spec per request, as wrk sends them) in one process, so a change of a few µs shows.

It prints, per scenario, µs per request (the best of `--rounds` rounds of `-n` requests each:
the minimum is the least disturbed by other processes), then µs per stage of the miss path timed
one by one on the same specs (`stages_json`, `stages_yaml`): what the request costs beyond the
framework. Stage figures are each measured in a tight loop, so they run warmer than inside a request;
their sum is a lower bound of the route's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import itertools
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from bench_api import JSON_BODY, YAML_BODY  # noqa: E402  (the benchmark's own bodies)

_counter = itertools.count(20_000_000)


def json_body(distinct: bool) -> bytes:
    n = next(_counter) if distinct else 0
    return (JSON_BODY % (n, n, 100 + n if distinct else 500)).encode()


def yaml_body(distinct: bool) -> bytes:
    n = next(_counter) if distinct else 0
    return (YAML_BODY % (n, n, 100 + n if distinct else 500)).encode()


class Client:
    """Calls the ASGI app as uvicorn would for one HTTP/1.1 request with a body in one chunk."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def post(self, path: str, body: bytes, ctype: str) -> tuple[int, bytes]:
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": [(b"host", b"127.0.0.1"), (b"content-type", ctype.encode()),
                                         (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status, chunks = 0, []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


SCENARIOS: dict[str, tuple[str, Callable[[bool], bytes], str]] = {
    "json": ("/predict", json_body, "application/json"),
    "yaml": ("/predict/from-yaml", yaml_body, "text/plain"),
}


async def per_request_us(client: Client, scenario: str, distinct: bool, n: int) -> float:
    path, make, ctype = SCENARIOS[scenario]
    bodies = [make(distinct) for _ in range(n)]
    started = time.perf_counter()
    for body in bodies:
        status, out = await client.post(path, body, ctype)
        if status != 200:
            raise SystemExit(f"{path}: {status} {out[:300]!r}")
    return (time.perf_counter() - started) / n * 1e6


class InlineTimers:
    """Times named functions inside real requests: each is replaced, for the duration, by a wrapper
    that adds its inclusive time to a per-label total (a wrapper costs ~0.1 µs per call).

    Unlike the stage loops, these figures include what running among the framework's code costs
    (cold caches), so they add up to the route's own miss cost."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self._undo: list[tuple[Any, str, Any, bool]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        own = name in getattr(owner, "__dict__", {})
        totals = self.totals
        totals.setdefault(label, 0)
        clock = time.perf_counter_ns

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label] += clock() - started

        if isinstance(owner, type) and not isinstance(original, staticmethod) and callable(original) and own:
            def method(self_: Any, *args: Any, **kwargs: Any) -> Any:
                return timed(self_, *args, **kwargs)
            setattr(owner, name, method)
        else:
            setattr(owner, name, timed)
        self._undo.append((owner, name, owner.__dict__.get(name) if own else None, own))

    def restore(self) -> None:
        for owner, name, original, own in reversed(self._undo):
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        self._undo.clear()


def inline_targets(predictor: Any) -> list[tuple[Any, str, str]]:
    """What `InlineTimers` wraps: the steps of both routes' miss paths."""
    import app.api.body as body
    import app.api.routes.yaml as yaml_route
    import app.serving.predictor as pred
    import app.workloads.convert as convert
    from app.core.schema import InferenceRequest

    return [
        (body, "parse_json_body", "validate JSON body"),
        (pred, "complete_request", "complete_request"),
        (pred, "check_numbers", "check_numbers"),
        (InferenceRequest, "spec_hash", "spec_hash"),
        (predictor, "_lookup", "cache lookup"),
        (predictor, "_miss_one", "miss: _miss_one (all below)"),
        (predictor.encoder, "encode_one", "  encode_one"),
        (predictor.model, "nearest_one", "  nearest_one"),
        (predictor.model, "kneighbors_unchecked", "  kneighbors_unchecked (batch search)"),
        (predictor._serving, "_query_one", "  _query_one"),
        (pred, "implausible", "  implausible"),
        (predictor, "_store", "cache store"),
        (predictor, "_prediction", "_prediction (response object)"),
        (yaml_route, "requests_from_yaml", "yaml: requests_from_yaml (all below)"),
        (convert, "load_documents", "  yaml: load_documents"),
        (convert, "request_from_object", "  yaml: request_from_object"),
        (predictor, "predict_many", "yaml: predict_many"),
        (predictor, "predict", "json: Predictor.predict"),
        (yaml_route, "answer", "yaml: answer"),
    ]


async def inline_table(client: Client, predictor: Any, scenario: str, n: int) -> dict[str, float]:
    timers = InlineTimers()
    for owner, name, label in inline_targets(predictor):
        timers.wrap(owner, name, label)
    try:
        total = await per_request_us(client, scenario, True, n)
    finally:
        timers.restore()
    return {"(whole request, with the wrappers)": total,
            **{label: ns / n / 1000 for label, ns in timers.totals.items() if ns}}


def stage_table(predictor: Any, n: int) -> dict[str, float]:
    """µs per call of each step of the miss path, on `n` distinct specs (each timed in its own loop)."""
    from app.core.schema import InferenceRequest
    from app.serving.extras import PYTHON
    from app.workloads.convert import complete_request, requests_from_yaml
    from app.workloads.plausibility import implausible
    from app.workloads.yamlload import YamlLimits, load_documents

    out: dict[str, float] = {}

    def timed(name: str, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        started = time.perf_counter()
        results = [fn(x) for x in items]
        out[name] = (time.perf_counter() - started) / len(items) * 1e6
        return results

    bodies = [json_body(True) for _ in range(n)]
    reqs = timed("json: validate body", InferenceRequest.model_validate_json, bodies)
    done = timed("json: complete_request", complete_request, reqs)
    timed("json: spec_hash", lambda r: r.spec_hash(), done)
    enc, model, serving = predictor.encoder, predictor.model, predictor._serving
    xs = timed("json: encode_one", enc.encode_one, done)
    k = int(model.n_neighbors_)
    near = timed("json: nearest_one", lambda x: model.nearest_one(x, max(k, 5)), xs)
    timed("json: _query_one", lambda a: serving._query_one(model, a[0][0], a[0][1], a[1], predictor._to_watts, k,
                                                            PYTHON), list(zip(near, done, strict=True)))
    timed("json: implausible", implausible, done)
    cached = [predictor._miss_one(r) for r in done]
    preds = timed("json: _prediction", lambda a: predictor._prediction(a[0], "0" * 16, a[1]),
                  list(zip(done, cached, strict=True)))
    timed("json: to_json", lambda p: p.__pydantic_serializer__.to_json(p, exclude_none=True), preds)
    fresh = [InferenceRequest.model_validate_json(json_body(True)) for _ in range(n)]
    timed("json: Predictor.predict (miss)", predictor.predict, fresh)

    texts = [yaml_body(True).decode() for _ in range(n)]
    limits = YamlLimits()
    timed("yaml: load_documents", lambda t: list(load_documents(t, "body", limits)), texts)
    results = timed("yaml: requests_from_yaml", lambda t: requests_from_yaml(t, "body", limits), texts)
    timed("yaml: predict_many (miss)", lambda r: predictor.predict_many(r.requests, "body"), results)
    return out


async def main_async(args: argparse.Namespace) -> None:
    from app.api.app import create_app
    from app.core.settings import Settings

    settings = Settings(encoder_path=Path(args.encoder), model_path=Path(args.model))
    app = create_app(settings, background=False)
    async with app.router.lifespan_context(app):
        client = Client(app)
        predictor = app.state.service.require_predictor()
        for scenario in SCENARIOS:  # warm-up: imports, first-call caches, the spec cache filled past its size
            await per_request_us(client, scenario, True, args.n)
            await per_request_us(client, scenario, False, 200)
        if args.cprofile:
            prof = cProfile.Profile()
            prof.enable()
            await per_request_us(client, args.cprofile, True, args.n)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
            return
        print(f"µs per request, best of {args.rounds} rounds of {args.n} (in process, no sockets):")
        for scenario in SCENARIOS:
            for distinct in (True, False):
                best = min([await per_request_us(client, scenario, distinct, args.n) for _ in range(args.rounds)])
                print(f"  {SCENARIOS[scenario][0]:<20} {'distinct' if distinct else 'repeated':<9} {best:7.1f}")
        for scenario in SCENARIOS:
            print(f"µs per request inside real {SCENARIOS[scenario][0]} requests (distinct specs), "
                  f"best of {args.rounds} rounds:")
            tables = [await inline_table(client, predictor, scenario, args.n) for _ in range(args.rounds)]
            for name in tables[0]:
                print(f"  {name:<40} {min(t[name] for t in tables):7.1f}")
        print(f"µs per call of each stage in a loop of its own, best of {args.rounds} rounds of {args.n} "
              "distinct specs:")
        tables = [stage_table(predictor, args.n) for _ in range(args.rounds)]
        for name in tables[0]:
            print(f"  {name:<32} {min(t[name] for t in tables):7.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", default=str(REPO / "artifacts" / "encoder.npz"))
    p.add_argument("--model", default=str(REPO / "artifacts" / "knn_energy.npz"))
    p.add_argument("-n", type=int, default=5000, help="requests per round (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="rounds; the best counts (default: %(default)s)")
    p.add_argument("--cprofile", choices=sorted(SCENARIOS), help="profile this scenario (distinct specs) instead")
    p.add_argument("--top", type=int, default=35, help="functions listed by --cprofile (default: %(default)s)")
    args = p.parse_args(argv)
    gc.collect()
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
