"""`simulate` (the demo cluster) and `bootstrap` (rebuild the default artifacts from it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.core.settings import DEFAULT_ARTIFACTS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="write a seeded demo cluster: manifests, per-pod ground truth, history")
    p.add_argument("--out", default="data/sim", help="output directory (default: %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="random seed; same seed, same bytes (default: %(default)s)")
    p.add_argument("--workloads", type=int, default=120, help="top-level workloads (default: %(default)s)")
    p.add_argument("--hours", type=float, default=6.0, help="simulated time span (default: %(default)s)")
    p.add_argument("--history", action="store_true",
                   help="also write history.om (OpenMetrics for promtool); large: ~1.8 GB at the defaults")
    p.add_argument("--scrape", type=int, default=60, help="history scrape interval, seconds (default: %(default)s)")
    p.add_argument("--kepler-schema", nargs="+", choices=["0.7", "0.10"], default=["0.7", "0.10"],
                   help="Kepler metric schemas in the history (default: both)")
    p.add_argument("--families", nargs="+", metavar="FAMILY", help="only these software families (default: all)")
    p.add_argument("--exclude-families", nargs="+", default=[], metavar="FAMILY",
                   help="leave these software families out (e.g. to test on families a model never saw)")
    p.add_argument("--kepler07-idle", action="store_true",
                   help="Kepler 0.7 exposes idle power, split per process (as with RAPL on bare metal)")
    p.set_defaults(func=simulate_cmd)

    b = sub.add_parser("bootstrap", help="retrain the default artifacts on the simulated demo cluster")
    b.add_argument("--out", default=str(DEFAULT_ARTIFACTS), help="artifact directory (default: %(default)s)")
    b.add_argument("--seed", type=int, default=7)
    b.add_argument("--workloads", type=int, default=120)
    b.add_argument("--sbert", action="store_true", help="add SBERT text embeddings (local model)")
    b.add_argument("--static-text", action="store_true",
                   help="add the static text embeddings (artifacts/static_text; no torch needed)")
    b.set_defaults(func=bootstrap_cmd)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def simulate_cmd(args: argparse.Namespace) -> int:
    from app.simulate import simulate_cluster, write_cluster

    if args.workloads < 2 or args.hours <= 0:
        raise ValueError("--workloads must be ≥ 2 and --hours > 0")
    _say(f"simulating {args.workloads} workloads over {args.hours:g} h (seed {args.seed})")
    cluster = simulate_cluster(seed=args.seed, n_workloads=args.workloads, hours=args.hours, families=args.families,
                               exclude_families=args.exclude_families, kepler07_idle=args.kepler07_idle)
    if args.history:
        _say(f"writing history at a {args.scrape}s scrape interval (this is the long step)")
    paths = write_cluster(cluster, args.out, history=args.history, scrape_s=args.scrape,
                          kepler_schemas=tuple(args.kepler_schema))
    _say(f"{len(cluster.pods)} pods; wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def bootstrap_cmd(args: argparse.Namespace) -> int:
    from app.pipelines.bootstrap import build_default_artifacts

    out = build_default_artifacts(args.out, seed=args.seed, n_workloads=args.workloads, sbert=args.sbert,
                                  static_text=args.static_text, progress=_say)
    m = out["card"]["cv"]["mean"]["model"]
    _say(f"CV: MAE={m['mae']:.2f} W MAPE={m['mape']:.1f}% median APE={m['median_ape']:.1f}% R2={m['r2']:.3f}")
    _say(f"wrote {out['encoder']}, {out['model']}, {out['card_path']}")
    if Path(args.out).resolve() == DEFAULT_ARTIFACTS.resolve():  # the shipped model: /docs shows its answers
        from app.api.examples import GENERATED_PATH
        from app.cli.commands.examples import write_examples

        _say(f"wrote {write_examples(str(out['encoder']), str(out['model']), str(GENERATED_PATH))}")
    return 0
