"""Kubernetes label keys → names usable as Prometheus label / feature column names.

Label keys such as `app.kubernetes.io/name` contain `.`, `-` and `/`, none of which a Prometheus
label name (`[a-zA-Z_][a-zA-Z0-9_]*`) may hold. The mapping keeps the prefix/name boundary visible
(`/` → `__`) so `app.kubernetes.io/name` and `app_kubernetes_io_name` stay distinguishable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label_name(key: str) -> str:
    """`.` and `-` → `_`, `/` → `__`, any other invalid character → `_`; a leading digit gets a `_` prefix.

    >>> sanitize_label_name("app.kubernetes.io/name")
    'app_kubernetes_io__name'
    """
    out = _INVALID.sub("_", key.replace("/", "__"))
    if not out or out[0].isdigit():
        out = "_" + out
    return out


def sanitize_labels(labels: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    """All keys sanitized (optionally prefixed, e.g. `label_` as kube-state-metrics does).

    Raises `ValueError` when two keys collide after sanitising, because silently keeping one of
    them would attach a value to the wrong label.
    """
    out: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key, value in labels.items():
        name = prefix + sanitize_label_name(key)
        if name in out:
            raise ValueError(f"labels {origin[name]!r} and {key!r} both sanitize to {name!r}")
        out[name] = value
        origin[name] = key
    return out
