"""Human resource quantities ("4", "500m", "8Gi") to canonical integers, and back.

Canonical units are those of the wire protocol (see types.proto): `cpu` in millicores, `memory`
in MiB, anything else (accelerators) as a count. This module is the one place that parses them,
for the agent's node files and for the CLI alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

CPU = "cpu"
MEMORY = "memory"

# Same shape as types.proto documents (and the scheduler enforces): an optional DNS-style prefix
# and `/`, then a lower-case name. Checked here so a typo fails at agent start, not at every sync.
_NAME = re.compile(
    r"^(?:[a-z0-9]([a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*/)?"
    r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?$"
)
_MAX_NAME_LEN = 63
# Larger values are typos (bytes given as MiB, millicores given twice); the scheduler rejects them.
_MAX = {CPU: 1 << 30, MEMORY: 1 << 40}
_MAX_OTHER = 1 << 20

# Devices a job may ask a share of (types.proto Resources.shares), in thousandths of one.
DEVICE_RESOURCES = ("nvidia.com/gpu", "huawei.com/ascend")
SHARES_PER_DEVICE = 1000

_MIB = 1024 * 1024
# Bytes per unit. Binary suffixes are exact; decimal ones are converted and rounded up to MiB.
_MEMORY_UNITS = {
    "Ki": 1024,
    "Mi": _MIB,
    "Gi": 1024 * _MIB,
    "Ti": 1024 * 1024 * _MIB,
    "Pi": 1024 * 1024 * 1024 * _MIB,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
}
_MEMORY_RE = re.compile(r"^([0-9]*\.?[0-9]+)\s*([KMGTP]i|[kKMGTP])?$")


def _decimal(name: str, value: object) -> Decimal:
    """A finite, non-negative number from an int, float or numeric string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name}: expected a number or a quantity string, got {value!r}")
    try:
        # str() first so that 0.1 means 0.1, not its binary float approximation.
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{name}: {value!r} is not a finite number")
    if number < 0:
        raise ValueError(f"{name}: must not be negative, got {value!r}")
    return number


def _cpu(value: object) -> int:
    if isinstance(value, str) and value.strip().endswith("m"):
        try:
            millis = _decimal(CPU, value.strip()[:-1])
        except ValueError:
            raise ValueError(f"cpu: {value!r} is not a quantity (e.g. 4, 0.5, 500m)") from None
    else:
        millis = _decimal(CPU, value) * 1000
    if millis != millis.to_integral_value():
        raise ValueError(f"cpu: {value!r} is finer than one millicore (1m)")
    return int(millis)


def _memory(value: object) -> int:
    if isinstance(value, str):
        match = _MEMORY_RE.match(value.strip())
        if not match:
            raise ValueError(
                f"memory: {value!r} is not a quantity (use e.g. 512Mi, 8Gi, 1Ti, 2G, or MiB as "
                "a bare number)"
            )
        number, unit = Decimal(match.group(1)), match.group(2)
        if unit is not None:
            # Round up: a node offering 2G must not be reported as less than it has.
            return math.ceil(number * _MEMORY_UNITS[unit] / _MIB)
        return math.ceil(number)
    return math.ceil(_decimal(MEMORY, value))


def _count(name: str, value: object) -> int:
    number = _decimal(name, value)
    if number != number.to_integral_value():
        raise ValueError(f"{name}: must be a whole number of devices, got {value!r}")
    return int(number)


def parse_quantity(name: str, value: object) -> int:
    """Canonical integer for one resource, or ValueError("<name>: ...") saying what is wrong.

    cpu: 4 / "4" / 0.5 / "500m" -> millicores. memory: "8Gi", "512Mi", "1Ti" (binary), "2G",
    "2M" (decimal, rounded up to MiB), a bare number = MiB. Anything else: a whole count.
    """
    check_name(name)
    if name == CPU:
        quantity = _cpu(value)
    elif name == MEMORY:
        quantity = _memory(value)
    else:
        quantity = _count(name, value)
    limit = _MAX.get(name, _MAX_OTHER)
    if quantity > limit:
        raise ValueError(
            f"{name}: {value!r} is absurdly large ({quantity} > {limit} canonical units; cpu is "
            "in cores or 'm' millicores, memory in MiB unless suffixed)"
        )
    return quantity


def parse_request(name: str, value: object) -> tuple[int, bool]:
    """A job's request in wire units: (quantity, False) for `Resources.quantities`, or
    (thousandths, True) for `Resources.shares` when a device is asked as a share of ONE device
    (0 < value < 1, e.g. 0.25, at most three decimals). Whole devices stay whole (backwards
    compatible); 1.5 devices is refused: a share is below one device or a whole number."""
    if name not in DEVICE_RESOURCES:
        return parse_quantity(name, value), False
    check_name(name)
    number = _decimal(name, value)
    if number == number.to_integral_value():
        return parse_quantity(name, value), False
    if number > 1:
        raise ValueError(
            f"{name}: a share must be below one device, or a whole number of devices; got {value!r}"
        )
    thousandths = number * SHARES_PER_DEVICE
    if thousandths != thousandths.to_integral_value():
        raise ValueError(f"{name}: {value!r} is finer than a thousandth of a device")
    return int(thousandths), True


def format_request(quantities: Mapping[str, int], shares: Mapping[str, int]) -> str:
    """format_resources with device shares as fractions of one device: nvidia.com/gpu=0.25."""
    parts = [f"{n}={format_quantity(n, v)}" for n, v in quantities.items()]
    parts += [f"{n}={v / SHARES_PER_DEVICE:g}" for n, v in shares.items()]
    return ",".join(sorted(parts)) if parts else "-"


def max_quantity(name: str) -> int:
    """The largest quantity of `name` the scheduler accepts, in canonical units."""
    return _MAX.get(name, _MAX_OTHER)


def check_name(name: str) -> None:
    """ValueError unless `name` is a canonical resource name (cpu, memory, nvidia.com/gpu...)."""
    if not isinstance(name, str) or len(name) > _MAX_NAME_LEN or not _NAME.match(name):
        raise ValueError(
            f"{name!r}: not a resource name (lower-case, e.g. cpu, memory, nvidia.com/gpu)"
        )


def parse_resources(mapping: Mapping[str, object]) -> dict[str, int]:
    """Parses every entry of {name: human quantity}; errors name the resource."""
    return {str(name): parse_quantity(str(name), value) for name, value in mapping.items()}


def format_quantity(name: str, value: int) -> str:
    """Shortest exact human form; parse_quantity(name, format_quantity(name, v)) == v."""
    if name == CPU:
        return str(value // 1000) if value % 1000 == 0 else f"{value}m"
    if name == MEMORY:
        for unit, size in (("Ti", 1024 * 1024), ("Gi", 1024)):
            if value and value % size == 0:
                return f"{value // size}{unit}"
        return f"{value}Mi"
    return str(value)


def format_resources(resources: Mapping[str, int]) -> str:
    """e.g. "cpu=4,memory=8Gi,nvidia.com/gpu=2" (sorted by name; "-" when empty)."""
    if not resources:
        return "-"
    return ",".join(f"{n}={format_quantity(n, v)}" for n, v in sorted(resources.items()))
