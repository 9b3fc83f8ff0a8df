"""Small helpers of the simulator: Kubernetes quantities as the field writes them, names, ids, digests.

Rule: everything random takes the caller's ``numpy.random.Generator``, so the simulator stays seeded and
deterministic (same arguments, same bytes). Quantities are parsed with the kubernetes client's own parser,
never the project's converter, so the simulator's ground truth cannot agree with a bug in the code it tests.
"""

from __future__ import annotations

import uuid

import numpy as np
from kubernetes.utils.quantity import parse_quantity as _k8s_parse_quantity

MI = 2**20
GI = 2**30
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' rand.SafeEncodeString alphabet


def parse_quantity(value: str | int | float) -> float:
    """Parse a Kubernetes quantity (``500m``, ``"1.5"``, ``2``, ``512Mi``, ``90G``, ``5e8``) to base units.

    Uses the kubernetes client's exact parser directly rather than the project's converter, so the
    simulator's ground truth stays independent of the code it is used to test.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid quantity {value!r}")
    return float(_k8s_parse_quantity(value))


def fmt_cpu(cores: float, rng: np.random.Generator) -> str | int | float:
    """Write a CPU quantity in one of the notations seen in the field (``500m``, ``"0.5"``, 2, …)."""
    milli = round(cores * 1000)
    r = rng.random()
    if milli % 1000 == 0:
        whole = milli // 1000
        if r < 0.4:
            return whole
        return str(whole) if r < 0.75 else f"{milli}m"
    if r < 0.6:
        return f"{milli}m"
    if r < 0.85:
        return f"{milli / 1000:g}"
    return float(milli / 1000)


def fmt_mem(mib: float, rng: np.random.Generator) -> str | int:
    """Write a memory quantity in a field notation (``512Mi``, ``1.5Gi``, ``537M``, ``90G``, ``537e6``)."""
    nbytes = mib * MI
    r = rng.random()
    if r < 0.45:
        return f"{round(mib)}Mi"
    if r < 0.68 and mib % 512 == 0:
        return f"{mib / 1024:g}Gi"
    if r < 0.78:
        return f"{round(nbytes / 1e6)}M"
    if r < 0.88 and nbytes >= 2e9:
        return f"{round(nbytes / 1e9)}G"
    if r < 0.94:
        return f"{round(nbytes / 1e6)}e6"
    if r < 0.97:
        return round(nbytes)
    return f"{round(mib)}Mi"


def suffix(rng: np.random.Generator, n: int = 5) -> str:
    return "".join(_SAFE[i] for i in rng.integers(0, len(_SAFE), n))


def uid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def hexid(rng: np.random.Generator, nbytes: int = 32) -> str:
    return rng.bytes(nbytes).hex()


def noise_factor(rng: np.random.Generator, sigma: float) -> float:
    """Mean-one lognormal factor."""
    return float(np.exp(rng.normal(-0.5 * sigma * sigma, sigma)))


def pin_digest(image: str, rng: np.random.Generator) -> str:
    """Pin an image by digest, sometimes keeping the tag (``repo:tag@sha256:…``) and sometimes not."""
    digest = "sha256:" + hexid(rng)
    if rng.random() < 0.5:
        return f"{image}@{digest}"
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@{digest}"

