"""Resource quantities between the wire and the domain: devices in two fields.

The domain counts devices (DEVICE_RESOURCES) in thousandths of one device; the wire keeps whole
devices in `Resources.quantities`, as clients from before shares send and read them, and only
shares in `Resources.shares` (types.proto). Quota numbers (governance.proto) stay in whole
devices on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping

from protos.suanchou.v1 import types_pb2
from scheduler.domain.errors import InvalidSpec, key_path, quote
from scheduler.domain.resources import DEVICE_RESOURCES, SHARES_PER_DEVICE

# Above this a whole-device count would overflow once scaled; the domain's bound refuses it
# with the usual message, so clamping here only keeps the multiplication small.
_MAX_WIRE = 1 << 62


def resources_from_proto(msg: types_pb2.Resources, field: str) -> dict[str, int]:
    """Domain quantities (devices in thousandths); the domain validates names and bounds."""
    out: dict[str, int] = {}
    for name, value in msg.quantities.items():
        if name in DEVICE_RESOURCES:
            value = min(value, _MAX_WIRE // SHARES_PER_DEVICE) * SHARES_PER_DEVICE
        out[name] = value
    for name, value in msg.shares.items():
        item = key_path(field, name)
        if name not in DEVICE_RESOURCES:
            raise InvalidSpec(
                f"shares are for devices ({', '.join(DEVICE_RESOURCES)}), not {quote(name)}",
                field=item,
            )
        if name in msg.quantities:
            raise InvalidSpec("given both as whole devices and as a share", field=item)
        out[name] = value
    return out


def resources_to_proto(q: Mapping[str, int]) -> types_pb2.Resources:
    """Whole devices in `quantities`, a share (or a non-multiple sum) in `shares`."""
    msg = types_pb2.Resources()
    for name, value in q.items():
        if name in DEVICE_RESOURCES and value % SHARES_PER_DEVICE:
            msg.shares[name] = value
        elif name in DEVICE_RESOURCES:
            msg.quantities[name] = value // SHARES_PER_DEVICE
        else:
            msg.quantities[name] = value
    return msg


def quota_from_wire(resource: str, value: int) -> int:
    """A quota number as the wire gives it (whole devices) in domain units."""
    if resource in DEVICE_RESOURCES:
        return min(value, _MAX_WIRE // SHARES_PER_DEVICE) * SHARES_PER_DEVICE
    return value


def quota_to_wire(resource: str, value: int) -> int:
    """A quota number in wire units: devices rounded up (a quarter in use shows as one)."""
    if resource in DEVICE_RESOURCES:
        return -(-value // SHARES_PER_DEVICE)
    return value
