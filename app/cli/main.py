"""The command tree: `python -m app <command> …`.

Thin by design: each command parses flags and calls domain functions; each command group lives
in `app/cli/commands/<group>.py` with a `register(subparsers)` function. Errors the user can fix end
with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from app import __version__
from app.core.errors import PodPowerError

COMMAND_MODULES = (
    "app.cli.commands.collect",
    "app.cli.commands.pipeline",
    "app.cli.commands.simulate",
    "app.cli.commands.serve",
    "app.cli.commands.examples",
    "app.cli.commands.energy_labels",
    "app.cli.commands.evaluate",
    "app.cli.commands.history",
    "app.cli.commands.artifacts",
    "app.cli.commands.diff",
    "app.cli.commands.distill",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="k8sPodPCP: predict the power and energy of Kubernetes workloads from their specs.",
    )
    parser.add_argument("--version", action="version", version=f"k8sPodPCP {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except PodPowerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        # OSError: unwritable output paths and the like; ValueError: bad flag values found late
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `… | head` closed the pipe: not an error
        return 0
