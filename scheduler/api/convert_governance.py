"""Proto <-> domain conversion for departments' quotas and usage, and priority classes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from protos.suanchou.v1 import admin_pb2, governance_pb2
from scheduler.api.convert_resources import quota_from_wire, quota_to_wire, resources_to_proto
from scheduler.domain.quotas import DepartmentStatus, GroupUsage, PriorityClass, ResourceQuota


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def quotas_from_proto(items: Sequence[governance_pb2.ResourceQuota]) -> list[ResourceQuota]:
    """The requested quotas; the output-only fields (used, borrowed, ...) are ignored."""
    return [
        ResourceQuota(
            resource=q.resource,
            nominal=quota_from_wire(q.resource, q.nominal),
            borrowing_limit=(
                quota_from_wire(q.resource, q.borrowing_limit)
                if q.HasField("borrowing_limit")
                else None
            ),
            lending_limit=(
                quota_from_wire(q.resource, q.lending_limit)
                if q.HasField("lending_limit")
                else None
            ),
        )
        for q in items
    ]


def _group_to_proto(g: GroupUsage) -> governance_pb2.QuotaGroup:
    msg = governance_pb2.QuotaGroup(cluster_selector=dict(g.selector))
    for u in g.resources:
        item = msg.resources.add(
            resource=u.resource,
            nominal=quota_to_wire(u.resource, u.quota.nominal),
            used=quota_to_wire(u.resource, u.used),
            borrowed=quota_to_wire(u.resource, u.borrowed),
            lent=quota_to_wire(u.resource, u.lent),
            changed_at=_ts(u.quota.changed_at),
            over_limit=quota_to_wire(u.resource, u.over_limit),
            reclaim_at=_ts(u.reclaim_at),
        )
        if u.quota.borrowing_limit is not None:
            item.borrowing_limit = quota_to_wire(u.resource, u.quota.borrowing_limit)
        if u.quota.lending_limit is not None:
            item.lending_limit = quota_to_wire(u.resource, u.quota.lending_limit)
    return msg


def status_to_proto(s: DepartmentStatus) -> admin_pb2.Department:
    return admin_pb2.Department(
        name=s.name,
        display_name=s.display_name,
        created_at=_ts(s.created_at),
        parent=s.parent,
        priority_classes=list(s.priority_classes),
        quotas=[_group_to_proto(g) for g in s.groups],
        usage=resources_to_proto(s.usage),
        fair_share_weight=s.fair_share_weight,
        decayed_usage=s.decayed_usage,
    )


def priority_class_from_proto(msg: governance_pb2.PriorityClass) -> PriorityClass:
    return PriorityClass(
        name=msg.name,
        value=msg.value,
        preemptible=msg.preemptible,
        may_preempt=msg.may_preempt,
        description=msg.description,
    )


def priority_class_to_proto(pc: PriorityClass) -> governance_pb2.PriorityClass:
    return governance_pb2.PriorityClass(
        name=pc.name,
        value=pc.value,
        preemptible=pc.preemptible,
        may_preempt=pc.may_preempt,
        description=pc.description,
        created_at=_ts(pc.created_at),
    )
