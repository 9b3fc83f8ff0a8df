"""Kubernetes resource quantities, parsed exactly as the API server does.

Delegates to the kubernetes client's parser (decimal suffixes k, M, G, T, P, E are powers of
1000; Ki … Ei powers of 1024; `m` milli; exponent forms like `1e3`), which returns a Decimal,
so `90G` is exactly 90×10^9 bytes. We only add the unit conversions the schema uses.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from kubernetes.utils.quantity import parse_quantity as _k8s_parse

MIB = Decimal(2**20)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: object) -> Decimal:
    """Parse a quantity (str, int or float as YAML gives it) into a Decimal in base units."""
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"invalid quantity {value!r}")
    try:
        result = _k8s_parse(value)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise QuantityError(f"invalid quantity {value!r}") from exc
    if not result.is_finite() or result < 0:
        raise QuantityError(f"invalid quantity {value!r}: must be a finite, non-negative amount")
    return result


def cpu_to_mcpu(value: object) -> float:
    """CPU quantity → millicores (`"1.5"` → 1500.0, `250m` → 250.0)."""
    return float(parse_quantity(value) * 1000)


def memory_to_mib(value: object) -> float:
    """Memory quantity → MiB (`90G` → 85830.688…, `512Mi` → 512.0)."""
    return float(parse_quantity(value) / MIB)
