"""`python -m app examples`: write the Swagger UI response examples from a model (app.api.example_answers).

Run on the shipped artifacts (the defaults) it rewrites app/api/response_examples.json, the answers
/docs shows; `bootstrap` does this itself whenever it rebuilds the shipped artifacts.
"""

from __future__ import annotations

import argparse
import sys

from app.core.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    from app.api.examples import GENERATED_PATH

    s = get_settings()
    p = sub.add_parser("examples", help="write the API's response examples (Swagger UI) from the model's answers")
    p.add_argument("--encoder", default=str(s.encoder_path), help="encoder artifact (default: %(default)s)")
    p.add_argument("--model", default=str(s.model_path), help="model artifact (default: %(default)s)")
    p.add_argument("--out", default=str(GENERATED_PATH), help="output JSON (default: %(default)s)")
    p.set_defaults(func=examples_cmd)


def write_examples(encoder: str, model: str, out: str) -> str:
    from app.api.example_answers import write
    from app.serving.predictor import Predictor

    return str(write(Predictor.load(encoder, model), out))


def examples_cmd(args: argparse.Namespace) -> int:
    path = write_examples(args.encoder, args.model, args.out)
    print(f"wrote {path}", file=sys.stderr)
    return 0
