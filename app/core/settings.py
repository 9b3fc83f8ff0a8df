"""All runtime settings, read from the environment in one place (pydantic-settings).

Every entry point (API, CLI, jobs in the cluster) builds one `Settings()`; flags override it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ARTIFACTS = REPO_ROOT / "artifacts"


class Settings(BaseSettings):
    """Environment variables (upper-case names) override these defaults."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    encoder_path: Path = Field(default=DEFAULT_ARTIFACTS / "encoder.npz", description="ENCODER_PATH (app.ml.artifacts)")
    model_path: Path = Field(default=DEFAULT_ARTIFACTS / "knn_energy.npz",
                             description="MODEL_PATH; its card <stem>.card.json beside it (app.ml.artifacts)")
    max_body_bytes: int = Field(default=1_048_576, description="Largest request body the API accepts (413 above).")
    # Connection limits of `python -m app serve` (docs/api.md, "Limits"): app.api.limits and uvicorn's own.
    max_header_bytes: int = Field(default=16_384, gt=0, description="Largest request head: request line + "
                                  "headers (431 above).")
    header_timeout_s: float = Field(default=10.0, gt=0, description="Time for a request head to arrive (408 after).")
    body_timeout_s: float = Field(default=30.0, gt=0, description="Time for a request body to arrive after its head "
                                  "(408 after).")
    keep_alive_timeout_s: float = Field(default=5.0, gt=0, description="Idle time before a keep-alive connection "
                                        "is closed.")
    limit_concurrency: int = Field(default=1000, gt=0, description="Open connections + requests in progress "
                                   "before new requests get 503.")
    graceful_shutdown_s: float = Field(default=20.0, gt=0, description="On SIGTERM, time left to requests in "
                                       "progress (under the pod's 30 s terminationGracePeriodSeconds).")
    yaml_max_aliases: int = 100
    yaml_max_depth: int = 64
    yaml_max_nodes: int = 1_000_000
    encoding_cache_size: int = Field(default=4096, description="Spec encodings kept, by spec hash (LRU).")
    sbert_model_path: str | None = Field(default=None, description="SBERT_MODEL_PATH: local model directory.")
    prom_url: str | None = Field(default=None, description="PROM_URL: Prometheus base URL.")
    prom_token: str | None = Field(default=None, description="PROM_TOKEN: bearer token for Prometheus.")
    prom_ca_file: str | None = Field(default=None, description="PROM_CA_FILE: CA bundle for Prometheus TLS.")
    prom_insecure: bool = Field(default=False, description="PROM_INSECURE: skip TLS verification.")
    prom_timeout_s: float = 30.0
    grid_gco2_per_kwh: float | None = Field(default=None, description="GRID_GCO2_PER_KWH default for ?hours=.")
    pue: float = Field(default=1.0, description="PUE: data-centre overhead multiplier for energy and carbon.")
    admission_budgets: bool = Field(
        default=False,
        description="ADMISSION_BUDGETS: /admission/validate enforces namespace power budgets, read by watching "
        "Namespaces and workloads through the Kubernetes API (in-cluster ServiceAccount or KUBECONFIG).",
    )
    log_level: str = "INFO"
    telemetry: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="TELEMETRY: OpenTelemetry for the API. auto: on when a tracer, meter or logger provider is "
        "configured when the app starts (or FASTAPI_OTEL_AUTO_CONFIGURE=true); on: FastAPI's check on every "
        "request; off.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
