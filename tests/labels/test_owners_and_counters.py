"""Label builder pieces that need no server: reset-aware increases, owner chains, suffix fallback."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.errors import InputError
from app.energy_labels.counters import CounterAccumulator
from app.energy_labels.kepler import detect_schema, energy_source
from app.energy_labels.owners import Owners
from app.workloads.owners import guess_from_pod_name


def _chunk(key: str, idx: list[int], vals: list[float]) -> list:
    t = 1000.0 + 60.0 * np.asarray(idx, dtype=float)
    return [({"k": key}, t, np.asarray(vals, dtype=float))]


def test_series_present_at_range_start_counts_from_there() -> None:
    acc = CounterAccumulator(1000.0, 60.0, ["k"])
    acc.feed(_chunk("a", [0, 1, 2], [50.0, 60.0, 75.0]))
    assert acc.tracks[("a",)].total == 25.0


def test_series_appearing_inside_the_range_counts_from_zero() -> None:
    acc = CounterAccumulator(1000.0, 60.0, ["k"])
    acc.feed(_chunk("a", [3, 4], [7.0, 19.0]))
    assert acc.tracks[("a",)].total == 19.0


def test_drop_counts_the_new_value_and_is_remembered_across_chunks() -> None:
    acc = CounterAccumulator(1000.0, 60.0, ["k"], keep_steps=True)
    acc.feed(_chunk("a", [0, 1], [10.0, 20.0]))
    acc.feed(_chunk("a", [2, 3], [4.0, 9.0]))  # reset between grid 1 and 2
    tr = acc.tracks[("a",)]
    assert tr.total == 10.0 + 4.0 + 5.0
    assert acc.drops == [(("a",), 2, 20.0)]
    acc.apply_peaks({(("a",), 2): 26.0})  # 6 J were used between grid 1 and the reset
    assert tr.total == 25.0
    steps = np.concatenate([s[1] for s in tr.steps])
    assert steps.sum() == pytest.approx(25.0)


def test_suffix_fallback_names() -> None:
    assert guess_from_pod_name("checkout-7d9fb6c4b5-x2z9q")[:2] == ("Deployment", "checkout")
    assert guess_from_pod_name("nightly-backup-29453760-jcvsz")[:2] == ("CronJob", "nightly-backup")
    assert guess_from_pod_name("orders-db-0")[:2] == ("StatefulSet", "orders-db")
    assert guess_from_pod_name("debug-shell")[:2] == ("Pod", "debug-shell")


def test_owner_chain_through_replicasets_and_jobs() -> None:
    own = Owners()
    own.add_pod({"namespace": "shop", "pod": "web-abc12345-xyz12", "uid": "u1", "owner_kind": "ReplicaSet",
                 "owner_name": "web-abc12345", "owner_is_controller": "true"})
    own.add_pod({"namespace": "batch", "pod": "r-29453760-aaaaa", "uid": "u2", "owner_kind": "Job",
                 "owner_name": "r-29453760", "owner_is_controller": "true"})
    own.add_pod({"namespace": "ml", "pod": "solo", "uid": "u3", "owner_kind": "<none>", "owner_name": "<none>",
                 "owner_is_controller": "<none>"})
    own.replicasets[("shop", "web-abc12345")] = ("Deployment", "web")
    own.jobs[("batch", "r-29453760")] = ("CronJob", "report")
    assert own.resolve("shop", "web-abc12345-xyz12", "u1") == ("Deployment", "web", "ksm")
    assert own.resolve("batch", "r-29453760-aaaaa", None) == ("CronJob", "report", "ksm")
    assert own.resolve("ml", "solo", "u3") == ("Pod", "solo", "ksm")
    # the CronJob name comes from kube_job_owner, not from the Job's name
    assert own.resolve("batch", "r-29453760-aaaaa", "u2")[1] == "report"
    # no record at all: the documented suffix fallback
    assert own.resolve("shop", "api-7d9fb6c4b5-x2z9q", None) == ("Deployment", "api", "suffix")


def test_schema_detection_and_zone_validation() -> None:
    assert detect_schema(["kepler_container_joules_total", "up"]) == "0.7"
    assert detect_schema(["kepler_pod_cpu_joules_total", "kepler_container_joules_total"]) == "0.10"
    assert detect_schema(["up"]) is None
    with pytest.raises(InputError, match="zone"):
        energy_source("0.10", zone="total")
    with pytest.raises(InputError, match="mode-filter"):
        energy_source("0.7", mode_filter="busy")
    assert "zone=\"dram\"" in energy_source("0.10", zone="dram").query.expr()
