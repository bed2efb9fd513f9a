"""Resource quantities in Prometheus base units: the scheduler counts cpu in millicores,
memory in MiB and devices in thousandths (scheduler.domain.resources); metrics say cores,
bytes and whole devices, with the unit in a label (as kube-state-metrics does)."""

from __future__ import annotations

from scheduler.domain.resources import CPU, DEVICE_RESOURCES, MEMORY, SHARES_PER_DEVICE

_MIB = 1024 * 1024


def base_unit(resource: str, value: int) -> tuple[float, str]:
    """(value in base units, unit label) of `value` of `resource` in scheduler units."""
    if resource == CPU:
        return value / 1000, "core"
    if resource == MEMORY:
        return float(value * _MIB), "byte"
    if resource in DEVICE_RESOURCES:
        return value / SHARES_PER_DEVICE, "device"
    return float(value), "count"
