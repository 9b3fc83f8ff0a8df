"""Quantities as Kubernetes defines them; expectations computed by hand from the definitions."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.utils.quantity import parse_quantity as _k8s_parse

from app.workloads.quantities import QuantityError, cpu_to_mcpu, memory_to_mib, parse_quantity

MIB = 2**20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90G", Decimal(90) * 10**9),
        ("1k", Decimal(1000)),
        ("2M", Decimal(2) * 10**6),
        ("3T", Decimal(3) * 10**12),
        ("1P", Decimal(10) ** 15),
        ("1E", Decimal(10) ** 18),
        ("1Ki", Decimal(1024)),
        ("512Mi", Decimal(512) * 2**20),
        ("1.5Gi", Decimal(3) * 2**29),
        ("2Ti", Decimal(2) * 2**40),
        ("1Pi", Decimal(2) ** 50),
        ("1Ei", Decimal(2) ** 60),
        ("250m", Decimal("0.25")),
        ("1.5", Decimal("1.5")),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("5e-3", Decimal("0.005")),
        ("0", Decimal(0)),
        (2, Decimal(2)),
        (0.5, Decimal("0.5")),
    ],
)
def test_parse_quantity(text: object, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("bad", ["12xyz", "", "Mi", "1.2.3", "-1", "1e", "abc", "1Qi", None, True, "NaN", "inf"])
def test_invalid_quantities_raise(bad: object) -> None:
    with pytest.raises(QuantityError, match="invalid quantity"):
        parse_quantity(bad)


def test_units() -> None:
    assert memory_to_mib("90G") == pytest.approx(90e9 / MIB)
    assert round(memory_to_mib("90G"), 2) == 85830.69
    assert memory_to_mib("512Mi") == 512.0
    assert memory_to_mib("1Gi") == 1024.0
    assert cpu_to_mcpu("1.5") == 1500.0
    assert cpu_to_mcpu("250m") == 250.0
    assert cpu_to_mcpu(2) == 2000.0
    assert cpu_to_mcpu("1e3") == 1_000_000.0


@pytest.mark.parametrize("hostile", ["1e999999999", "1E-999999999", "9" * 65, "1e61", "Infinity", " 1", "1 ",
                                     "1_000", "1K", "1ki", "1mi", "1e1.5", "+-1", "1e+", "..5", [1], {"a": 1},
                                     float("inf"), float("nan"), -1, 10**4000], ids=repr)
def test_hostile_quantities_are_clear_errors(hostile: object) -> None:
    with pytest.raises(QuantityError, match="quantity"):
        parse_quantity(hostile)


_NUMBER = st.from_regex(r"[+]?([0-9]{1,12}(\.[0-9]{0,6})?|\.[0-9]{1,6})", fullmatch=True)
_SUFFIX = st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])
_EXP = st.builds(lambda e, s: f"{e}{s}", st.sampled_from(["e", "E"]), st.integers(-30, 30))


@settings(max_examples=3000, deadline=None)
@given(_NUMBER, st.one_of(_SUFFIX, _EXP))
def test_parity_with_the_kubernetes_client(number: str, suffix: str) -> None:
    """On every grammatical quantity, our Decimal equals the official client's, digit for digit."""
    text = number + suffix
    ours = parse_quantity(text)
    theirs = _k8s_parse(text)
    assert ours == theirs, (text, ours, theirs)
