"""`artifacts convert`: turn old joblib (pickle) artifacts into code-free `.npz` ones, offline."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("artifacts", help="artifact maintenance (convert old joblib files)")
    asub = a.add_subparsers(dest="artifacts_command", metavar="<convert>", required=True)
    c = asub.add_parser(
        "convert", help="convert joblib artifacts to .npz + JSON (UNPICKLES: only for files you trust)",
        description="Convert old encoder/model .joblib files into the code-free format the server reads. "
        "This unpickles the inputs, which runs any code they hold: only convert files you trust. Give the "
        "encoder and the model of one run together, so the model card records the encoder's SHA-256.",
    )
    c.add_argument("inputs", nargs="+", metavar="OLD.joblib", help="encoder and/or model joblib files")
    c.add_argument("--out", required=True, help="directory for <name>.npz (and <name>.card.json for a model)")
    c.set_defaults(func=convert_cmd)


def convert_cmd(args: argparse.Namespace) -> int:
    from app.pipelines.convert_joblib import convert_joblib

    for path in convert_joblib(args.inputs, args.out):
        print(f"wrote {path}", file=sys.stderr)
    return 0
