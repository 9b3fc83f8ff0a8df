"""`collect from-file` (manifests → InferenceRequest NDJSON); watch/kubelet modes live in app.adapters.collector."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from app.adapters.files import read_requests, write_ndjson


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collect", help="turn workload specs into InferenceRequest JSON")
    csub = p.add_subparsers(dest="collect_command", metavar="<mode>", required=True)
    f = csub.add_parser("from-file", help="convert a manifest file (YAML, multi-doc, List; '-' = stdin) to NDJSON")
    f.add_argument("file", help="manifest file, or - for stdin")
    f.add_argument("--out", "--output", dest="out", help="write NDJSON here instead of stdout")
    f.set_defaults(func=from_file)
    try:
        from app.adapters.collector.commands import register as register_collector
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("app.adapters.collector"):
            raise
    else:
        register_collector(csub, make_predict=_make_predict)


def _make_predict(args: argparse.Namespace) -> Callable[[Any, int | None], Any]:
    """The exporter's predict function: the serving Predictor with the watch's artifacts and the PUE setting."""
    from app.core.settings import get_settings
    from app.serving.predictor import Predictor

    predictor = Predictor.load(args.encoder, args.model, pue=get_settings().pue)
    return lambda req, nodes: predictor.predict(req, "<watch>", nodes=nodes)


def from_file(args: argparse.Namespace) -> int:
    result = read_requests(args.file)
    for skip in result.skipped:
        print(f"{result.source}: document {skip.document}: skipped: {skip.reason}", file=sys.stderr)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            n = write_ndjson(result.requests, fh)
        print(f"wrote {n} workload(s) to {args.out}", file=sys.stderr)
    else:
        write_ndjson(result.requests)
    return 0
