"""`labels`: per-pod energy labels (and cAdvisor usage) from Prometheus; `labels --check` inspects a server."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from app.core import kepler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "labels",
        help="build per-pod energy labels from Kepler + kube-state-metrics in Prometheus (or --check a server)",
        description="Per-pod energy (Kepler) and usage (cAdvisor) labels, attributed to the top controller "
                    "through kube-state-metrics owners. See docs/labels.md.",
    )
    p.add_argument("--prom", help="Prometheus base URL (default: PROM_URL)")
    p.add_argument("--check", action="store_true",
                   help="list which needed series are present/missing and the detected Kepler schema, then exit")
    p.add_argument("--start", help="Unix seconds, RFC 3339, now, or relative (6h = 6 hours ago); "
                   "default: 1h for --check")
    p.add_argument("--end", default="now", help="same forms as --start (default: %(default)s)")
    p.add_argument("--step", default="60s", help="label step, e.g. 60s, 5m (default: %(default)s)")
    p.add_argument("--mode", choices=["job", "window"], default="job",
                   help="job: one row per pod; window: one row per pod per step (default: %(default)s)")
    p.add_argument("--out", help="output table (.parquet or .csv)")
    p.add_argument("--kepler-schema", choices=["auto", *kepler.SCHEMAS], default="auto",
                   help="Kepler metric schema; auto prefers 0.10 when both exist (default: %(default)s)")
    p.add_argument("--zone", help=f"Kepler 0.10: {', '.join(kepler.ZONES)} (default package); "
                   f"Kepler 0.7: {', '.join(kepler.CONTAINER_07)} (default total)")
    p.add_argument("--mode-filter", help=f"Kepler 0.7 modes to count: {','.join(kepler.MODES_07)} (default), or one")
    p.add_argument("--no-usage", action="store_true", help="skip the cAdvisor usage columns")
    p.add_argument("--chunk-points", type=int, default=240,
                   help="grid points per series per request while streaming (default: %(default)s)")
    p.add_argument("--token", help="bearer token (default: PROM_TOKEN)")
    p.add_argument("--ca-file", help="CA bundle for TLS (default: PROM_CA_FILE)")
    p.add_argument("--insecure", action="store_true", default=None, help="skip TLS verification")
    p.add_argument("--retries", type=int, help="retries on timeouts and 5xx (default: 3)")
    p.set_defaults(func=labels_cmd)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def labels_cmd(args: argparse.Namespace) -> int:
    from app.adapters.files import write_table
    from app.adapters.prometheus import client_from_settings
    from app.core.errors import InputError
    from app.core.timeparse import parse_duration, parse_time
    from app.energy_labels.build import build_labels
    from app.energy_labels.check import check_source

    if not getattr(args, "verbose", False):
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    now = time.time()
    end = parse_time(args.end, now, "--end")
    if args.chunk_points < 2:
        raise InputError("--chunk-points must be ≥ 2", source="arguments")
    with client_from_settings(args.prom, token=args.token, ca_file=args.ca_file, insecure=args.insecure,
                              retries=args.retries) as client:
        if args.check:
            start = parse_time(args.start or "1h", now, "--start")
            if end <= start:
                raise InputError("--end must be after --start", source="arguments")
            report = check_source(client, start, end)
            for line in report.lines():
                print(line)
            return 0 if report.usable else 1
        if not args.out:
            raise InputError("--out is required (or use --check)", source="arguments")
        if not args.start:
            raise InputError("--start is required (e.g. --start 6h or --start 2026-01-01T00:00:00Z)",
                             source="arguments")
        start = parse_time(args.start, now, "--start")
        step = parse_duration(args.step, "--step")
        result = build_labels(client, start, end, step=step, mode=args.mode, schema=args.kepler_schema,
                              zone=args.zone, mode_filter=args.mode_filter, usage=not args.no_usage,
                              chunk_points=args.chunk_points, progress=_say)
    for note in result.notes:
        _say(f"note: {note}")
    frame = result.frame
    write_table(frame, args.out)
    pods = frame["pod"].nunique() if len(frame) else 0
    wl = frame[["namespace", "workload_kind", "workload_name"]].drop_duplicates().shape[0] if len(frame) else 0
    _say(f"wrote {args.out}: {len(frame)} rows, {pods} pods, {wl} workloads ({result.source.description})")
    return 0
