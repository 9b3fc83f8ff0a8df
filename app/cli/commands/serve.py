"""`python -m app serve`: run the prediction API under uvicorn (one process, one event loop).

Flags override the environment (ENCODER_PATH, MODEL_PATH); everything else comes from `Settings`.
Connection limits (MAX_HEADER_BYTES, HEADER_TIMEOUT_S, BODY_TIMEOUT_S, KEEP_ALIVE_TIMEOUT_S, LIMIT_CONCURRENCY,
GRACEFUL_SHUTDOWN_S) come from `Settings` too. `uvicorn app.api.app:app` runs the same app with settings
from the environment only, and without those limits unless given
`--http app.api.limits:LimitedHttpToolsProtocol --limit-concurrency N --timeout-keep-alive S`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.core.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    s = get_settings()
    p = sub.add_parser("serve", help="run the prediction API (FastAPI under uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s; 0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    p.add_argument("--encoder", default=str(s.encoder_path), help="encoder artifact (default: ENCODER_PATH or "
                   "%(default)s)")
    p.add_argument("--model", default=str(s.model_path), help="model artifact (default: MODEL_PATH or %(default)s)")
    p.add_argument("--log-level", default=s.log_level.lower(), choices=["debug", "info", "warning", "error"],
                   help="default: LOG_LEVEL or %(default)s")
    p.add_argument("--ssl-certfile", help="serve HTTPS with this PEM certificate (chain); the admission webhook "
                   "needs TLS (k8s/60-webhook.yaml, scripts/webhook-certs.sh)")
    p.add_argument("--ssl-keyfile", help="the certificate's PEM private key (with --ssl-certfile)")
    p.add_argument("--no-access-log", dest="access_log", action="store_false",
                   help="do not log every request (saves a little time per request under load)")
    p.set_defaults(func=serve_cmd)


def serve_cmd(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from app.api.app import create_app
    from app.api.limits import ConnectionLimits, limited_protocol

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}")
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise ValueError("--ssl-certfile and --ssl-keyfile go together")
    for flag, path in (("--ssl-certfile", args.ssl_certfile), ("--ssl-keyfile", args.ssl_keyfile)):
        if path and not Path(path).is_file():
            raise ValueError(f"{flag} {path}: no such file")
    logging.getLogger().setLevel(args.log_level.upper())
    settings = get_settings().model_copy(update={"encoder_path": Path(args.encoder), "model_path": Path(args.model)})
    app = create_app(settings)
    base = base_url(args.host, args.port, tls=bool(args.ssl_certfile))
    logging.getLogger("app.api").info("Swagger UI: %s/docs  ReDoc: %s/redoc  metrics: %s/metrics", base, base, base)
    # connection limits (docs/api.md): head size and read timeouts in our protocol, the rest uvicorn's own
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log,
                ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile,
                http=limited_protocol(ConnectionLimits.from_settings(settings)),
                limit_concurrency=settings.limit_concurrency, timeout_keep_alive=settings.keep_alive_timeout_s,
                timeout_graceful_shutdown=settings.graceful_shutdown_s,
                h11_max_incomplete_event_size=settings.max_header_bytes)
    return 0


def base_url(host: str, port: int, tls: bool = False) -> str:
    """The URL to open for a bind address: a wildcard address (all interfaces) is reached on localhost."""
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"
