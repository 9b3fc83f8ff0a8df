"""Kubernetes resource quantities, parsed exactly as the API server does.

The rule (apimachinery `pkg/api/resource/quantity.go`, the grammar in its header)::

    <quantity>  ::= <sign>? <number> <suffix>
    <number>    ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>    ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>  ::= Ki | Mi | Gi | Ti | Pi | Ei          (powers of 1024)
    <decimalSI> ::= n | u | m | "" | k | M | G | T | P | E   (powers of 1000)
    <decimalExponent> ::= e <sign>? <digits> | E <sign>? <digits>

so `90G` is exactly 90×10^9 bytes and `1.5Gi` exactly 3×2^29. Parsed into a Decimal, with no
rounding. Guarantees beyond the grammar, for hostile input: the text is at most 64 characters,
the exponent at most ±60 (the largest suffix is E = 10^18; 10^60 vCPUs is already absurd), so a
quantity like `1e999999999` is a clear error rather than a Decimal overflow; negative amounts are
refused (no resource is negative). Numbers that YAML already typed (int, float) are accepted as
the client does. Parity with the kubernetes client's own parser on every string both accept is
tested in `tests/workloads/test_quantities.py`; we do not import the client here (the domain
layer depends on no Kubernetes package).
"""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal

MIB = Decimal(2**20)
MAX_TEXT = 64
MAX_EXPONENT = 60

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_GRAMMAR = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<binary>[KMGTPE]i)|[eE](?P<exponent>[+-]?[0-9]+)|(?P<decimal>[numkMGTPE]?))"
)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: object) -> Decimal:
    """Parse a quantity (str, int or float as YAML gives it) into a Decimal in base units."""
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"invalid quantity {value!r}")
    if isinstance(value, int | float):
        if (isinstance(value, float) and not math.isfinite(value)) or not 0 <= value <= 10**MAX_EXPONENT:
            raise QuantityError(f"invalid quantity {value!r}: must be a finite, non-negative amount")
        return Decimal(value)
    if not isinstance(value, str):
        raise QuantityError(f"invalid quantity: expected a string or a number, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise QuantityError(f"invalid quantity {value[:20]!r}…: longer than {MAX_TEXT} characters")
    match = _GRAMMAR.fullmatch(value)
    if match is None:
        raise QuantityError(f"invalid quantity {value!r}")
    number = Decimal(match["number"])
    if match["binary"]:
        result = number * Decimal(1024) ** _BINARY[match["binary"]]
    else:
        exponent = int(match["exponent"]) if match["exponent"] is not None else _DECIMAL[match["decimal"]]
        if abs(exponent) > MAX_EXPONENT:
            raise QuantityError(f"invalid quantity {value!r}: exponent beyond ±{MAX_EXPONENT}")
        result = number.scaleb(exponent)
    if result < 0:
        raise QuantityError(f"invalid quantity {value!r}: must be a finite, non-negative amount")
    return result


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Decimal:
    """`parse_quantity` of a string, memoised: manifests repeat a few quantities (`256Mi`, `500m`) and a
    Decimal is immutable. Errors are not memoised (they raise), and a memoised text is at most `MAX_TEXT`
    characters, so the memo's size is bounded."""
    return parse_quantity(text)


def _parse(value: object) -> Decimal:
    return _parse_text(value) if value.__class__ is str else parse_quantity(value)  # type: ignore[arg-type]


def cpu_to_mcpu(value: object) -> float:
    """CPU quantity → millicores (`"1.5"` → 1500.0, `250m` → 250.0)."""
    return float(_parse(value) * 1000)


def memory_to_mib(value: object) -> float:
    """Memory quantity → MiB (`90G` → 85830.688…, `512Mi` → 512.0)."""
    return float(_parse(value) / MIB)
