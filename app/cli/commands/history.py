"""Cluster history commands: `trace` (workload trace + replay), `trace predict` (price it), `scrape` (export)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.adapters.files import write_table
from app.core.errors import InputError
from app.core.progress import Progress
from app.core.settings import get_settings
from app.core.timeparse import parse_duration, parse_time

FORMATS = ("parquet", "csv")


def register(sub: argparse._SubParsersAction) -> None:
    s = get_settings()
    tr = sub.add_parser(
        "trace", help="per-workload trace (create/scale/delete) from kube-state-metrics + Karpenter, and a replay",
        description="Build the workload trace from four CSV exports (--csv-dir) or from Prometheus (--prom). "
        "`trace predict` prices a trace with the model.")
    src = tr.add_mutually_exclusive_group()
    src.add_argument("--csv-dir", help="directory with kube_pod_container_resource_requests.csv, "
                     "karpenter_pods_state.csv, kube_pod_owner.csv, kube_replicaset_owner.csv")
    src.add_argument("--prom", metavar="URL", help="read the series from this Prometheus")
    tr.add_argument("--start", default="1d",
                    help="with --prom: Unix s, RFC 3339, now or 10d (ago); default %(default)s")
    tr.add_argument("--end", default="now", help="with --prom; default %(default)s")
    tr.add_argument("--step", help="with --prom: sampling step (default 60s); with --csv-dir: bucket timestamps "
                    "to this step (default: use them as exported)")
    tr.add_argument("--lookback", default="5m", help="with --prom: a series counts at t if sampled within this "
                    "window before t (default %(default)s, Prometheus' own)")
    tr.add_argument("--include-namespace", action="append", default=[], metavar="NS",
                    help="only these namespaces (repeatable); also re-includes kube-system")
    tr.add_argument("--exclude-namespace", action="append", default=[], metavar="NS",
                    help="drop these namespaces (repeatable); kube-system is always dropped unless included")
    tr.add_argument("--out", default="trace-out", help="output directory (default: %(default)s)")
    tr.add_argument("--format", choices=FORMATS, default="parquet", help="table format (default: %(default)s)")
    tr.set_defaults(func=trace_cmd)
    tsub = tr.add_subparsers(dest="trace_command", metavar="<predict>")
    pr = tsub.add_parser("predict", help="predicted power of every workload of a trace over time, and the total")
    pr.add_argument("--trace", required=True, help="output directory of `trace` (uses its replay.json), "
                    "or a replay JSON file")
    pr.add_argument("--out", dest="predict_out", required=True, help="output directory")
    pr.add_argument("--encoder", default=str(s.encoder_path), help="default: %(default)s")
    pr.add_argument("--model", default=str(s.model_path), help="default: %(default)s")
    pr.add_argument("--top", type=int, default=8, help="workloads drawn in the plot (default: %(default)s)")
    pr.set_defaults(func=trace_predict_cmd)

    sc = sub.add_parser("scrape", help="export metrics from Prometheus over a long range, chunked and resumable")
    sc.add_argument("--prom", metavar="URL", help="Prometheus URL (default: PROM_URL)")
    sc.add_argument("--metric", action="append", default=[], help="metric name (repeatable)")
    sc.add_argument("--match", help='series selector, e.g. {__name__=~"kube_pod_.*",namespace="shop"}; '
                    "with --metric narrows each metric, alone exports every metric it matches")
    sc.add_argument("--start", default="1d", help="Unix s, RFC 3339, now or 10d (ago); default %(default)s")
    sc.add_argument("--end", default="now", help="default: %(default)s")
    sc.add_argument("--chunk", default="1h", help="query and part-file size (default: %(default)s)")
    sc.add_argument("--resolution", default="60s", help="query step (default: %(default)s)")
    sc.add_argument("--bucket", help="combine each series' samples per bucket (default: the resolution)")
    sc.add_argument("--agg", choices=["sum", "mean", "median"], default="mean", help="default: %(default)s")
    sc.add_argument("--per-pod", action="store_true", help="one file per pod instead of one per metric")
    sc.add_argument("--format", choices=FORMATS, default="parquet", help="default: %(default)s")
    sc.add_argument("--out", required=True, help="output directory (rerun with the same one to resume)")
    sc.add_argument("--quiet", action="store_true", help="no progress bar")
    sc.set_defaults(func=scrape_cmd)


# -- trace -------------------------------------------------------------------------------------------------


def trace_cmd(args: argparse.Namespace) -> int:
    from app.history import trace
    from app.history.trace_sources import read_csv_dir, read_prometheus

    if not args.csv_dir and not args.prom:
        raise InputError("give the input: --csv-dir DIR or --prom URL (or use `trace predict`)", source="arguments")
    ns = trace.NamespaceFilter.from_flags(args.include_namespace, args.exclude_namespace)
    if args.csv_dir:
        inputs = read_csv_dir(args.csv_dir)
        step = parse_duration(args.step, "--step") if args.step else None
        result = trace.build(inputs, ns, step=step)
    else:
        from app.adapters.prometheus import client_from_settings

        start, end = parse_time(args.start, what="--start"), parse_time(args.end, what="--end")
        step = parse_duration(args.step or "60s", "--step")
        with client_from_settings(args.prom) as client:
            inputs = read_prometheus(client, start, end, step, parse_duration(args.lookback, "--lookback"))
        result = trace.build(inputs, ns)
    paths = write_trace_outputs(result, args.out, args.format)
    n = result.trace
    print(f"{len(n)} change(s) for {n[trace.GROUP].drop_duplicates().shape[0] if len(n) else 0} workload group(s), "
          f"{len(result.node_claims)} node claim(s); wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def write_trace_outputs(result: Any, out: str | Path, fmt: str) -> list[Path]:
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    paths = [write_table(result.trace, d / f"trace.{fmt}"),
             write_table(result.nodes, d / f"allocation_nodes.{fmt}"),
             write_table(result.nodepools, d / f"allocation_nodepools.{fmt}"),
             write_table(result.node_claims, d / f"node_claims.{fmt}")]
    replay = d / "replay.json"
    tmp = replay.with_name(".replay.json.tmp")
    tmp.write_text(json.dumps(result.replay, indent=1))
    tmp.replace(replay)
    paths.append(replay)
    return paths


def _load_replay(path: str) -> tuple[dict[str, Any], str]:
    p = Path(path)
    if p.is_dir():
        p = p / "replay.json"
    if not p.exists():
        raise InputError("file not found (expected a replay JSON or the output directory of `trace`)", source=str(p))
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", source=str(p)) from None
    if not isinstance(doc, dict) or doc.get("kind") != "TraceReplay":
        raise InputError("not a trace replay document (kind must be TraceReplay)", source=str(p), field="kind")
    return doc, str(p)


def trace_predict_cmd(args: argparse.Namespace) -> int:
    from app.history.trace import price_replay
    from app.serving.predictor import Predictor

    replay, source = _load_replay(args.trace)
    predictor = Predictor.load(args.encoder, args.model)

    def per_pod(reqs: list[Any]) -> list[float]:
        return [p.pred_avg_power_w for p in predictor.predict_many(reqs, source)]

    per, total = price_replay(replay, per_pod, source)
    d = Path(args.predict_out)
    paths = [write_table(per, d / "power_by_workload.parquet"), write_table(total, d / "power_total.parquet"),
             plot_power(per, total, d / "power.png", top=args.top)]
    kwh = float(total["energy_j"].sum()) / 3.6e6
    print(f"{per['replay_name'].nunique()} workload(s), {len(total)} timestamp(s), {kwh:.4f} kWh predicted; "
          f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def plot_power(per: Any, total: Any, path: Path, top: int = 8) -> Path:
    """Step plot of the cluster total and the `top` workloads by energy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 5))
    t0 = float(total["timestamp"].min()) if len(total) else 0.0
    hours = (total["timestamp"] - t0) / 3600.0
    ax.step(hours, total["power_w"], where="post", color="black", linewidth=2, label="cluster total")
    if len(per):
        wide = per.pivot_table(index="timestamp", columns="replay_name", values="power_w", aggfunc="sum")
        wide = wide.reindex(total["timestamp"]).fillna(0.0)
        energy = wide.mul(pd.Series(total["energy_j"].to_numpy() / total["power_w"].replace(0, 1).to_numpy(),
                                    index=wide.index), axis=0).sum()
        for name in energy.sort_values(ascending=False).index[:top]:
            ax.step(hours, wide[name], where="post", linewidth=1, label=str(name))
    ax.set_xlabel("hours since trace start")
    ax.set_ylabel("predicted power (W)")
    ax.set_title("Predicted power of the traced workloads")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


# -- scrape ------------------------------------------------------------------------------------------------


def scrape_cmd(args: argparse.Namespace) -> int:
    from app.adapters.prometheus import client_from_settings
    from app.history.scrape import ExportPlan, export, resolve_metrics

    start, end = parse_time(args.start, what="--start"), parse_time(args.end, what="--end")
    resolution = parse_duration(args.resolution, "--resolution")
    plan = ExportPlan(start=start, end=end, chunk=parse_duration(args.chunk, "--chunk"), resolution=resolution,
                      bucket=parse_duration(args.bucket, "--bucket") if args.bucket else resolution, agg=args.agg,
                      match=args.match or "")
    with client_from_settings(args.prom) as client:
        metrics = resolve_metrics(client, args.metric, args.match, start, end)
        bar = Progress("scrape", enabled=not args.quiet)
        paths = export(client, metrics, plan, args.out, fmt=args.format, per_pod=args.per_pod,
                       progress=lambda done, total: bar.set(done, total))
        made = client.requests_made
    print(f"{len(metrics)} metric(s), {len(plan.chunks())} chunk(s) each, {made} request(s); "
          f"wrote {len(paths)} file(s) under {args.out}", file=sys.stderr)
    return 0
