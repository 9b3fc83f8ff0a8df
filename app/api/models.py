"""Response shapes that only the API has (the prediction types live in `app.core.schema`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["loading", "ready", "failed"]
    detail: str = Field(description="What is loaded, or why predictions cannot be served yet.")
    model_version: str | None = None


class EncoderInfo(BaseModel):
    features: int = Field(description="Length of the feature vector.")
    text_dim: int = Field(description="Hashed text buckets.")
    sbert: bool = Field(description="Whether SBERT sentence embeddings are part of the features.")
    sbert_dim: int = 0


class ModelCard(BaseModel):
    """The model card written at training time, plus what the service loaded.

    Besides the fields below, every other entry of the stored card (params, rows, groups,
    timestamps, per-fold CV metrics) is passed through unchanged.
    """

    model_config = ConfigDict(extra="allow")

    model_version: str
    target: str | None = Field(default=None, description="Training target, e.g. `avg_power_w`.")
    unit: str | None = Field(default=None, description="Unit of the target, e.g. `W (average power per pod)`.")
    cv: dict[str, Any] | None = Field(
        default=None, description="Group cross-validation: folds and mean MAE / MAPE / R² of model and baseline."
    )
    versions: dict[str, str] | None = Field(default=None, description="Library versions the model was built with.")
    encoder: EncoderInfo
    cache: dict[str, int] = Field(description="Encoding cache (by spec hash): entries now and the maximum.")
