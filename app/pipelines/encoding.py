"""Fit the workload encoder on specs: the first step of every pipeline (train, evaluate, bootstrap).

Its own module so that training and evaluation both use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.errors import InputError
from app.core.schema import InferenceRequest
from app.ml.features import WorkloadEncoder
from app.workloads.convert import complete_request


def fit_encoder(requests: Sequence[InferenceRequest], **params: Any) -> WorkloadEncoder:
    """Fit on the completed requests (effective resources, QoS) exactly as serving will see them."""
    if not requests:
        raise InputError("no workloads to fit the encoder on", source="encoder input")
    return WorkloadEncoder(**params).fit([complete_request(r) for r in requests])
