"""Resource quantities: canonical names and integer units.

`cpu` is in millicores, `memory` in MiB, devices (DEVICE_RESOURCES: `nvidia.com/gpu`,
`huawei.com/ascend`) in thousandths of one device, as the solver packs them (placement/model,
GPU devices): 250 is a quarter of one device, 2000 two whole devices; a device request is either
a share of ONE device (< 1000) or whole devices (a multiple of 1000). The wire keeps whole
devices in `Resources.quantities` (clients from before shares) and shares in `Resources.shares`
(scheduler.api.convert). Other names (Kubernetes extended-resource shape) are plain counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from scheduler.domain.errors import InvalidSpec, key_path, quote

CPU = "cpu"
MEMORY = "memory"
NVIDIA_GPU = "nvidia.com/gpu"
ASCEND_NPU = "huawei.com/ascend"

_NAME = re.compile(
    r"^(?:[a-z0-9]([a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*/)?"
    r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?$"
)
MAX_NAME_LEN = 63
# Resources counted in thousandths of one device (module docstring).
DEVICE_RESOURCES = (NVIDIA_GPU, ASCEND_NPU)
SHARES_PER_DEVICE = 1000
# Cluster prices are quoted per core-, GiB- or device-hour: canonical units in one priced unit.
UNITS_PER_PRICED_UNIT: dict[str, int] = {
    CPU: 1000,
    MEMORY: 1024,
    **dict.fromkeys(DEVICE_RESOURCES, SHARES_PER_DEVICE),
}
# Above any real machine: 1,048,576 cores, 1 EiB in MiB, a million devices. Larger values are
# typos (bytes given as MiB, cores as millicores twice) and would overflow solver scaling.
MAX_QUANTITY: dict[str, int] = {
    CPU: 1 << 30,
    MEMORY: 1 << 40,
    **dict.fromkeys(DEVICE_RESOURCES, (1 << 20) * SHARES_PER_DEVICE),
}
MAX_OTHER_QUANTITY = 1 << 20
MAX_RESOURCE_KINDS = 32

Quantities = Mapping[str, int]


def device_resource(names: Iterable[str]) -> str | None:
    """The device resource the solver packs among `names`: nvidia.com/gpu, else
    huawei.com/ascend, else None. One kind per problem (the engine packs one); in a pool with
    both, Ascend devices are counted as a plain quantity without device ids."""
    present = set(names)
    return next((name for name in DEVICE_RESOURCES if name in present), None)


def max_quantity(name: str) -> int:
    return MAX_QUANTITY.get(name, MAX_OTHER_QUANTITY)


def validate_name(name: str, field: str) -> None:
    if not name or len(name) > MAX_NAME_LEN or not _NAME.match(name):
        raise InvalidSpec(
            f"resource name {quote(name)} is not a canonical name "
            "(lower-case, e.g. cpu, memory, nvidia.com/gpu)",
            field=field,
        )


def validate_quantities(
    quantities: Mapping[str, int], field: str, *, allow_zero: bool = False, require_any: bool = True
) -> dict[str, int]:
    """Checks names and bounds; returns a plain dict without zero entries."""
    if len(quantities) > MAX_RESOURCE_KINDS:
        raise InvalidSpec(f"at most {MAX_RESOURCE_KINDS} resource kinds", field=field)
    clean: dict[str, int] = {}
    for name, value in sorted(quantities.items()):
        item = key_path(field, name)
        validate_name(name, item)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidSpec(f"quantity must be an integer, got {quote(repr(value))}", field=item)
        if value < 0 or (value == 0 and not allow_zero):
            raise InvalidSpec(f"quantity must be positive, got {value}", field=item)
        if value > max_quantity(name):
            raise InvalidSpec(
                f"quantity {value} is absurdly large (limit {max_quantity(name)}); "
                "units are millicores for cpu and MiB for memory",
                field=item,
            )
        if name in DEVICE_RESOURCES and value > SHARES_PER_DEVICE and value % SHARES_PER_DEVICE:
            raise InvalidSpec(
                f"a device request is a share of one device (below 1) or whole devices, got "
                f"{value / SHARES_PER_DEVICE:g}",
                field=item,
            )
        if value:
            clean[name] = value
    if require_any and not clean:
        raise InvalidSpec("at least one positive resource quantity is required", field=field)
    return clean


def add(a: Quantities, b: Quantities, times: int = 1) -> dict[str, int]:
    out = dict(a)
    for name, value in b.items():
        out[name] = out.get(name, 0) + value * times
    return out


def total(items: Iterable[Quantities]) -> dict[str, int]:
    out: dict[str, int] = {}
    for q in items:
        out = add(out, q)
    return out


def fits(demand: Quantities, free: Quantities) -> bool:
    return all(free.get(name, 0) >= value for name, value in demand.items())


def shortfall(demand: Quantities, free: Quantities) -> dict[str, int]:
    """What is missing from `free` to hold `demand`, per resource (only positive entries)."""
    return {
        name: value - free.get(name, 0)
        for name, value in demand.items()
        if value > free.get(name, 0)
    }


def devices(value: int) -> str:
    """A device quantity in devices: 0.25, 2."""
    return f"{value / SHARES_PER_DEVICE:g}"


def fmt(quantities: Quantities) -> str:
    """Readable form: cpu in cores, memory in GiB/MiB, devices in devices, others as counts."""
    parts = []
    for name, value in sorted(quantities.items()):
        if name == CPU:
            parts.append(f"cpu={value / 1000:g}")
        elif name == MEMORY:
            parts.append(f"memory={value / 1024:g}Gi" if value >= 1024 else f"memory={value}Mi")
        elif name in DEVICE_RESOURCES:
            parts.append(f"{name}={devices(value)}")
        else:
            parts.append(f"{name}={value}")
    return ",".join(parts)
