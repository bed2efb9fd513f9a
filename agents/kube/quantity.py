"""Kubernetes resource quantities ("100m", "16318164Ki", "1e3", "4") to suanchou's units, and
a lease's resources back to a pod's requests.

suanchou's canonical units (types.proto): cpu in millicores, memory in MiB, anything else a
count. Capacity rounds down and usage rounds up, so neither side is ever overstated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from agents.quantities import CPU, MEMORY

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
# The API server's canonical forms: a signed decimal, then a binary or decimal suffix or an
# exponent (resource.Quantity in k8s.io/apimachinery).
_QUANTITY = re.compile(r"^([+-]?[0-9]*\.?[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_MIB = Decimal(2**20)


def parse(text: object) -> Decimal:
    """The quantity's value in base units (cores, bytes, devices); ValueError if malformed."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"not a quantity: {str(text)[:32]!r}")
    match = _QUANTITY.match(str(text).strip())
    if match is None:
        raise ValueError(f"not a quantity: {str(text)[:32]!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E") and suffix not in _SUFFIX:
            return Decimal(number) * Decimal(10) ** int(suffix[1:])
        return Decimal(number) * _SUFFIX[suffix]
    except (InvalidOperation, OverflowError):
        raise ValueError(f"not a quantity: {str(text)[:32]!r}") from None


def canonical(resource: str, text: object, *, round_up: bool) -> int:
    """One resource in suanchou's units: cpu millicores, memory MiB, others a count."""
    value = parse(text)
    if resource == CPU:
        value *= 1000
    elif resource == MEMORY:
        value /= _MIB
    rounded = math.ceil(value) if round_up else math.floor(value)
    return max(0, int(rounded))


def to_kubernetes(resources: Mapping[str, int]) -> dict[str, str]:
    """A lease's resources as a pod's requests/limits ("500m", "512Mi", GPUs as counts)."""
    out: dict[str, str] = {}
    for name, value in sorted(resources.items()):
        if value <= 0:
            continue
        if name == CPU:
            out[name] = f"{value}m"
        elif name == MEMORY:
            out[name] = f"{value}Mi"
        else:
            out[name] = str(value)
    return out
