"""JobSpec.topology <-> the domain's Topology (spread over zones, anti-affinity)."""

from __future__ import annotations

from protos.suanchou.v1 import types_pb2
from scheduler.domain.models import Topology


def topology_from_proto(msg: types_pb2.JobSpec) -> Topology:
    """Read as sent; scheduler.domain.validation bounds the values and names the field."""
    t = msg.topology
    return Topology(
        spread_zones=t.spread_zones, anti_affinity=t.anti_affinity, spread_group=t.spread_group
    )


def topology_to_proto(topology: Topology, msg: types_pb2.JobSpec) -> None:
    if topology != Topology():
        msg.topology.CopyFrom(
            types_pb2.Topology(
                spread_zones=topology.spread_zones,
                anti_affinity=topology.anti_affinity,
                spread_group=topology.spread_group,
            )
        )
