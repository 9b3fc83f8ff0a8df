"""Label keys → Prometheus/feature label names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.adapters.collector.prom_names import sanitize_label_name, sanitize_labels

PROM_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("app", "app"),
        ("app.kubernetes.io/name", "app_kubernetes_io__name"),
        ("helm.sh/chart", "helm_sh__chart"),
        ("my-label", "my_label"),
        ("example.com/some-key.v2", "example_com__some_key_v2"),
        ("9lives", "_9lives"),
        ("team name", "team_name"),
        ("", "_"),
    ],
)
def test_sanitize_label_name(key: str, name: str) -> None:
    assert sanitize_label_name(key) == name


@given(st.text(max_size=80))
def test_any_key_becomes_a_valid_prometheus_label_name(key: str) -> None:
    name = sanitize_label_name(key)
    assert PROM_LABEL.match(name)
    assert sanitize_label_name(name) == name  # valid names are left alone


def test_sanitize_labels_prefix_and_collisions() -> None:
    assert sanitize_labels({"app.kubernetes.io/name": "web", "tier": "fe"}, prefix="label_") == {
        "label_app_kubernetes_io__name": "web", "label_tier": "fe"}
    with pytest.raises(ValueError, match="'a.b' and 'a-b' both sanitize to 'a_b'"):
        sanitize_labels({"a.b": "1", "a-b": "2"})
