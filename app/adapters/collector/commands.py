"""`collect watch` and `collect kubelet`: flags → options, sinks and state; the work is in watch.py / kubelet.py."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from app.adapters.collector.sinks import FanOut, NdjsonSink, PostSink, Sink
from app.adapters.collector.state import TemplateState
from app.adapters.collector.tracker import Tracker
from app.core.errors import PodPowerError
from app.core.kinds import DEFAULT_KINDS, parse_kinds

log = logging.getLogger("app.adapters.collector")


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _sink_flags(p: argparse.ArgumentParser) -> None:
    out = p.add_argument_group("output")
    out.add_argument("--output", "--out", dest="output",
                     help="append InferenceRequest NDJSON here (default: stdout unless --post is given)")
    out.add_argument("--post", metavar="URL", help="also POST each request to the prediction API, e.g. "
                     "http://podpower:8000/predict")
    out.add_argument("--post-queue", type=_positive(int), default=1000, metavar="N",
                     help="requests waiting for the API before the oldest is dropped (default 1000)")
    out.add_argument("--post-retries", type=int, default=5, metavar="N", help="retries per request (default 5)")
    out.add_argument("--post-timeout", type=_positive(float), default=10.0, metavar="S",
                     help="seconds per POST (default 10)")
    out.add_argument("--state", metavar="FILE",
                     help="last emitted template per workload, for restarts (default: <output>.state.json)")
    out.add_argument("--no-state", action="store_true", help="keep no state file")
    out.add_argument("--emit-initial", action="store_true",
                     help="emit every workload found at start (default: only changes after start)")
    out.add_argument("--namespace", "-n", dest="namespaces", nargs="+", action="extend", default=[], metavar="NS",
                     help="only these namespaces (default: all)")
    out.add_argument("--exclude-namespace", dest="exclude_namespaces", nargs="+", action="extend", default=[],
                     metavar="NS", help="skip these namespaces")
    out.add_argument("--once", action="store_true", help="list once, emit, and exit (no watching/polling)")


def _exporter_flags(p: argparse.ArgumentParser) -> None:
    from app.core.settings import get_settings

    s = get_settings()
    m = p.add_argument_group("predicted-power exporter")
    m.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="also predict every running workload and serve podpower_predicted_watts{namespace,"
                   "workload_kind,workload} (all replicas; _per_pod, _low/_high bounds, podpower_model_info) at "
                   "http://ADDR:PORT/metrics for Prometheus (e.g. 9108)")
    m.add_argument("--metrics-addr", default="0.0.0.0", metavar="ADDR", help="address to serve on "
                   "(default: %(default)s)")
    m.add_argument("--encoder", default=str(s.encoder_path), help="with --metrics-port (default: %(default)s)")
    m.add_argument("--model", default=str(s.model_path), help="with --metrics-port (default: %(default)s)")


def register(csub: argparse._SubParsersAction, make_predict: Callable[[argparse.Namespace], Any] | None = None
             ) -> None:
    """Add `watch` and `kubelet`; `make_predict(args)` builds the exporter's predict function (the CLI
    layer passes one that loads the serving Predictor, which this adapter may not import)."""
    w = csub.add_parser(
        "watch",
        help="watch the cluster and stream a workload whenever its pod template changes",
        description="List and watch workloads through the Kubernetes API (kubeconfig or in-cluster; env "
                    "KUBECONFIG, K8S_CA_FILE, VERIFY_SSL) and emit an InferenceRequest per template change. "
                    "RBAC: get, list and watch on the watched kinds.",
    )
    w.add_argument("--kinds", nargs="+", default=list(DEFAULT_KINDS), metavar="KIND",
                   help=f"kinds to watch (default: {' '.join(DEFAULT_KINDS)}; also ReplicaSet, ReplicationController)")
    w.add_argument("--include-owned-pods", action="store_true",
                   help="also emit Pods owned by a controller (their controller's template covers them)")
    w.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    w.add_argument("--context", help="kubeconfig context (default: the current one)")
    w.add_argument("--suppress-tls-warnings", action="store_true",
                   help="silence urllib3's InsecureRequestWarning when VERIFY_SSL=false")
    w.add_argument("--watch-timeout", type=_positive(int), default=300, metavar="S",
                   help="seconds per watch request before it is renewed (default 300)")
    w.add_argument("--page-size", type=_positive(int), default=500, metavar="N", help="list page size (default 500)")
    _sink_flags(w)
    _exporter_flags(w)
    w.set_defaults(func=watch_command, make_predict=make_predict)

    k = csub.add_parser(
        "kubelet",
        help="node-local mode: poll one kubelet's /pods instead of the API server",
        description="Poll <endpoint>/pods (a PodList), attribute ready pods to their workloads and emit an "
                    "InferenceRequest per template change. RBAC: get on nodes/proxy.",
    )
    k.add_argument("--endpoint", required=True, help="kubelet URL, e.g. https://$NODE_IP:10250")
    auth = k.add_argument_group("kubelet authentication")
    auth.add_argument("--token", help="bearer token (prefer --token-file)")
    auth.add_argument("--token-file", help="file holding the bearer token, re-read each poll "
                      "(default: the pod's ServiceAccount token when no client certificate is given)")
    auth.add_argument("--client-cert", help="client certificate (PEM)")
    auth.add_argument("--client-key", help="client key (PEM)")
    auth.add_argument("--ca-file", help="CA bundle that signed the kubelet's serving certificate")
    auth.add_argument("--insecure", action="store_true", help="do not verify the kubelet's certificate")
    k.add_argument("--interval", type=_positive(float), default=30.0, metavar="S", help="seconds between polls "
                   "(default 30)")
    k.add_argument("--timeout", type=_positive(float), default=10.0, metavar="S", help="seconds per request")
    _sink_flags(k)
    k.set_defaults(func=kubelet_command)


def _state_path(args: argparse.Namespace) -> Path | None:
    if args.no_state:
        return None
    if args.state:
        return Path(args.state)
    if args.output and args.output != "-":
        return Path(f"{args.output}.state.json")
    return None


def _sinks(args: argparse.Namespace) -> FanOut:
    sinks: list[Sink] = []
    if args.output or not args.post:
        sinks.append(NdjsonSink(args.output or "-"))
    if args.post:
        if not args.post.startswith(("http://", "https://")):
            raise PodPowerError(f"--post {args.post}: expected an http:// or https:// URL")
        sinks.append(PostSink(args.post, max_queue=args.post_queue, retries=args.post_retries,
                              timeout=args.post_timeout))
    return FanOut(sinks)


@contextlib.contextmanager
def _graceful(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM/SIGINT → `stop()` (finish cleanly, flush, save state) instead of dying mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        log.info("%s: stopping after flushing", signal.Signals(signum).name)
        stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def watch_command(args: argparse.Namespace) -> int:
    from app.adapters.collector.config import connect
    from app.adapters.collector.watch import Collector, WatchOptions

    kinds = parse_kinds(args.kinds)
    if args.namespaces and args.exclude_namespaces:
        raise PodPowerError("--namespace and --exclude-namespace cannot be combined")
    exporter = _exporter(args)  # bad flags or artifacts fail before connecting
    cluster = connect(args.kubeconfig, args.context, suppress_tls_warnings=args.suppress_tls_warnings)
    options = WatchOptions(kinds=kinds, namespaces=args.namespaces,
                           exclude_namespaces=frozenset(args.exclude_namespaces),
                           include_owned_pods=args.include_owned_pods, watch_timeout=args.watch_timeout,
                           page_size=args.page_size, once=args.once)
    state = TemplateState.load(_state_path(args))
    sinks = _sinks(args)
    tracker = Tracker(state, sinks.emit, emit_initial=args.emit_initial, observer=exporter)
    collector = Collector(cluster, options, tracker)
    log.info("collecting %s from %s (%s)", ", ".join(k.kind for k in kinds), cluster.server, cluster.source)
    try:
        if exporter is not None:
            exporter.serve(args.metrics_port, args.metrics_addr)
        with _graceful(collector.stop):
            collector.run()
    finally:
        if exporter is not None:
            exporter.close()
        sinks.close()
        state.save()
        cluster.api_client.close()
    log.info("stopped: %d request(s) emitted", tracker.emitted)
    return 0


def _exporter(args: argparse.Namespace) -> Any:
    """The predicted-power exporter when `--metrics-port` is given (artifacts loaded before watching)."""
    if args.metrics_port is None:
        return None
    if not 0 <= args.metrics_port <= 65535:
        raise PodPowerError(f"--metrics-port {args.metrics_port}: expected 0-65535")
    if args.make_predict is None:
        raise PodPowerError("--metrics-port: no predictor available in this build")
    from app.adapters.collector.exporter import PredictionExporter

    return PredictionExporter(args.make_predict(args))


def kubelet_command(args: argparse.Namespace) -> int:
    from app.adapters.collector.kubelet import KubeletClient, KubeletOptions, run_kubelet

    if args.namespaces and args.exclude_namespaces:
        raise PodPowerError("--namespace and --exclude-namespace cannot be combined")
    options = KubeletOptions(endpoint=args.endpoint, token=args.token,
                             token_file=args.token_file, client_cert=args.client_cert, client_key=args.client_key,
                             ca_file=args.ca_file, insecure=args.insecure, timeout=args.timeout,
                             interval=args.interval, namespaces=args.namespaces,
                             exclude_namespaces=frozenset(args.exclude_namespaces), once=args.once)
    if not options.endpoint.startswith(("http://", "https://")):
        raise PodPowerError(f"--endpoint {options.endpoint}: expected https://NODE:10250")
    client = KubeletClient(options)
    state = TemplateState.load(_state_path(args))
    sinks = _sinks(args)
    tracker = Tracker(state, sinks.emit, emit_initial=args.emit_initial)
    stop = threading.Event()
    try:
        with _graceful(stop.set):
            run_kubelet(client, tracker, options, stop)
    finally:
        sinks.close()
        state.save()
        client.close()
    log.info("stopped: %d request(s) emitted", tracker.emitted)
    return 0
