"""Node taints, job tolerations and cluster lists <-> the domain (scheduler.domain.taints,
scheduler.domain.cluster_choice). Counts are bounded before the items are read; the domain
validates the values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from protos.suanchou.v1 import types_pb2
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.models import Constraints
from scheduler.domain.taints import EQUAL, MAX_NODE_TAINTS, MAX_TOLERATIONS, Taint, Toleration


def tolerations_from_proto(
    items: Sequence[types_pb2.Toleration], field: str
) -> tuple[Toleration, ...]:
    if len(items) > MAX_TOLERATIONS:
        raise InvalidSpec(f"at most {MAX_TOLERATIONS} tolerations, got {len(items)}", field=field)
    return tuple(
        Toleration(key=t.key, operator=t.operator or EQUAL, value=t.value, effect=t.effect)
        for t in items
    )


def tolerations_to_proto(items: Iterable[Toleration]) -> list[types_pb2.Toleration]:
    return [
        types_pb2.Toleration(key=t.key, operator=t.operator, value=t.value, effect=t.effect)
        for t in items
    ]


def taints_from_proto(items: Sequence[types_pb2.Taint], field: str) -> tuple[Taint, ...]:
    """Sorted, so a node's stored taints compare equal whatever order the agent sends."""
    if len(items) > MAX_NODE_TAINTS:
        raise InvalidSpec(f"at most {MAX_NODE_TAINTS} taints, got {len(items)}", field=field)
    return tuple(sorted(Taint(key=t.key, value=t.value, effect=t.effect) for t in items))


def taints_to_proto(items: Iterable[Taint]) -> list[types_pb2.Taint]:
    return [types_pb2.Taint(key=t.key, value=t.value, effect=t.effect) for t in items]


def choice_from_proto(c: types_pb2.Constraints, into: Constraints) -> Constraints:
    """`into` with the tolerations and the cluster lists of `c`."""
    return replace(
        into,
        tolerations=tolerations_from_proto(c.tolerations, "constraints.tolerations"),
        clusters=tuple(c.clusters),
        preferred_clusters=tuple(c.preferred_clusters),
        cluster_selector=dict(c.cluster_selector),
    )


def choice_to_proto(c: Constraints, msg: types_pb2.Constraints) -> None:
    msg.tolerations.extend(tolerations_to_proto(c.tolerations))
    msg.clusters.extend(c.clusters)
    msg.preferred_clusters.extend(c.preferred_clusters)
    msg.cluster_selector.update(c.cluster_selector)
