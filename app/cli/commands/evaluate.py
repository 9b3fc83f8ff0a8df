"""`evaluate`: compare the predictors on the same group folds and write the report."""

from __future__ import annotations

import argparse
import sys

from app.core.progress import Progress
from app.core.schema import POWER_TARGETS
from app.ml.conformal import DEFAULT_LEVEL


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="group-CV comparison of the predictors → Markdown report + PNG plots")
    p.add_argument("--train", help="training rows from `join` (.parquet/.csv); default: the simulated cluster")
    p.add_argument("--out", default="report", help="report directory (default: %(default)s)")
    p.add_argument("--target", default="avg_power_w", choices=sorted(POWER_TARGETS), help="default: %(default)s")
    p.add_argument("--splits", type=int, default=5, help="outer GroupKFold splits (default: %(default)s)")
    p.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="interval level (default: %(default)s)")
    p.add_argument("--encoder", help="encoder artifact the rows were encoded with (names the feature blocks; "
                   "without it a --train file's features are split into numeric and other)")
    p.add_argument("--seed", type=int, default=7, help="simulated cluster seed (default: %(default)s)")
    p.add_argument("--workloads", type=int, default=120, help="simulated workloads (default: %(default)s)")
    p.add_argument("--hours", type=float, default=6.0, help="simulated hours (default: %(default)s)")
    p.add_argument("--static-text", action="store_true",
                   help="simulated clusters: add the static text embeddings to the encoder (artifacts/static_text, "
                   "docs/evaluation.md compares the two)")
    p.add_argument("--no-transfer", action="store_true",
                   help="skip the transfer scenario (train on one simulated cluster, test on another seed with "
                   "some software families held out of training)")
    p.set_defaults(func=evaluate_cmd)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def encoder_params(args: argparse.Namespace) -> dict[str, object]:
    return {"static_text": True} if args.static_text else {}


def evaluate_cmd(args: argparse.Namespace) -> int:
    from app.ml.tuning import feature_blocks
    from app.pipelines.evaluation import evaluate, simulated_rows
    from app.pipelines.report import write_report

    if not 0 < args.level < 1:
        raise ValueError(f"--level must be between 0 and 1, got {args.level}")
    if args.splits < 2:
        raise ValueError(f"--splits must be ≥ 2, got {args.splits}")
    names = None
    if args.train and args.static_text:
        raise ValueError("--static-text applies to the simulated clusters; a --train file is already encoded")
    if args.train:
        from app.adapters.files import read_table

        rows = read_table(args.train)
        source = args.train
    else:
        if args.workloads < 2 or args.hours <= 0:
            raise ValueError("--workloads must be ≥ 2 and --hours > 0")
        _say(f"simulating {args.workloads} workloads over {args.hours:g} h (seed {args.seed})")
        rows, names = simulated_rows(args.seed, args.workloads, args.hours, encoder_params(args))
        source = f"simulated cluster (seed {args.seed}, {args.workloads} workloads, {args.hours:g} h)"
    if args.encoder:
        from app.ml.artifacts import load_encoder

        names = list(load_encoder(args.encoder).feature_names_)
    blocks = None
    if "x" in rows.columns and len(rows):
        blocks = feature_blocks(len(rows["x"].iloc[0]), names)
    _say(f"{len(rows)} rows; evaluating {args.splits}-fold group CV (nested tuning inside each fold)")
    bar = Progress("outer folds")
    ev = evaluate(rows, args.target, n_splits=args.splits, level=args.level, blocks=blocks,
                  progress=lambda d, t: bar.set(d, t), source=source)
    paths = write_report(ev, args.out)
    for name in ("mean", "physics", "original_knn", "tuned_knn"):
        m = ev.metrics[name]
        extra = (f" coverage={m['coverage_per_workload']:.1%} per workload, {m['coverage']:.1%} per pod"
                 if "coverage" in m else "")
        _say(f"{name:13s} MAE={m['mae']:.3f} MAPE={m['mape']:.1f}% median APE={m['median_ape']:.1f}% "
             f"R2={m['r2']:.3f}{extra}")
    _say(f"tuned/original median APE: {ev.ratio():.2f}")
    if not args.train and not args.no_transfer:
        from app.pipelines.evaluation import transfer_evaluation, transfer_table

        _say(f"transfer: training on seed {args.seed} without some families, testing on seed {args.seed + 1}")
        tr = transfer_evaluation(args.seed, args.seed + 1, args.workloads, args.hours, target=args.target,
                                 level=args.level, encoder_params=encoder_params(args))
        table = transfer_table(tr)
        _say(table)
        with open(paths["report"], "a", encoding="utf-8") as fh:
            fh.write("\n## Transfer to another cluster\n\nThe in-cluster CV above shares the software mix between "
                     "training and validation. Here the model is trained on one simulated cluster without the "
                     f"families {', '.join(tr.held_out)} and tested on a differently seeded cluster that has them; "
                     "*typical miss* is the median factor between prediction and measurement.\n\n" + table + "\n")
    _say(f"wrote {paths['report']} and {len(paths) - 1} more files in {args.out}")
    return 0
