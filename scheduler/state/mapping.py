"""Paired row <-> domain conversions, one pair per table."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from scheduler.domain.models import (
    Cluster,
    ClusterSpec,
    ClusterVerdict,
    Constraints,
    Department,
    Explanation,
    Job,
    JobEvent,
    JobSpec,
    Node,
    Run,
    Topology,
)
from scheduler.domain.retry import FailureCategory, RetryPolicy
from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.domain.taints import Taint, Toleration
from scheduler.state.tables import (
    ClusterRow,
    DepartmentRow,
    ExplanationRow,
    JobEventRow,
    JobRow,
    NodeRow,
    RunRow,
)


def utc(value: datetime) -> datetime:
    """SQLite drops tzinfo; everything stored is UTC, so put it back on the way out."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc_opt(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def department_from_row(row: DepartmentRow) -> Department:
    return Department(
        name=row.name,
        display_name=row.display_name,
        created_at=utc(row.created_at),
        parent=row.parent,
        priority_classes=tuple(row.priority_classes),
        fair_share_weight=row.fair_share_weight,
    )


def cluster_to_row(spec: ClusterSpec, now: datetime) -> ClusterRow:
    return ClusterRow(
        name=spec.name,
        region=spec.region,
        zone=spec.zone,
        provider=spec.provider,
        security_level=spec.security_level,
        xinchuang=spec.xinchuang,
        price=dict(spec.price),
        labels=dict(spec.labels),
        state=ClusterState.ACTIVE.value,
        created_at=now,
    )


def cluster_from_row(row: ClusterRow) -> Cluster:
    spec = ClusterSpec(
        name=row.name,
        region=row.region,
        zone=row.zone,
        provider=row.provider,
        security_level=row.security_level,
        xinchuang=row.xinchuang,
        price=dict(row.price),
        labels=dict(row.labels),
    )
    return Cluster(
        spec=spec,
        state=ClusterState(row.state),
        created_at=utc(row.created_at),
        last_heartbeat=utc_opt(row.last_heartbeat),
        agent_error=row.agent_error,
    )


def node_to_row(node: Node, now: datetime) -> NodeRow:
    return NodeRow(
        cluster=node.cluster,
        name=node.name,
        capacity=dict(node.capacity),
        labels=dict(node.labels),
        taints=taints_to_json(node.taints),
        updated_at=now,
    )


def taints_to_json(taints: tuple[Taint, ...]) -> list[list[str]]:
    return [[t.key, t.value, t.effect] for t in taints]


def taints_from_json(data: list[list[str]] | None) -> tuple[Taint, ...]:
    return tuple(Taint(str(k), str(v), str(e)) for k, v, e in data or ())


def _choice_to_json(c: Constraints, data: dict[str, Any]) -> None:
    if c.tolerations:
        data["tolerations"] = [[t.key, t.operator, t.value, t.effect] for t in c.tolerations]
    if c.clusters:
        data["clusters"] = list(c.clusters)
    if c.preferred_clusters:
        data["preferred_clusters"] = list(c.preferred_clusters)
    if c.cluster_selector:
        data["cluster_selector"] = dict(c.cluster_selector)


def constraints_to_json(c: Constraints) -> dict[str, Any]:
    data: dict[str, Any] = {
        "min_security_level": c.min_security_level,
        "allowed_regions": list(c.allowed_regions),
        "xinchuang_required": c.xinchuang_required,
        "node_selector": dict(c.node_selector),
    }
    if c.xinchuang_preferred:
        data["xinchuang_preferred"] = True
    if c.gpu_models:
        data["gpu_models"] = list(c.gpu_models)
    _choice_to_json(c, data)
    return data


def constraints_from_json(data: dict[str, Any]) -> Constraints:
    return Constraints(
        min_security_level=int(data.get("min_security_level", 0)),
        allowed_regions=tuple(data.get("allowed_regions", ())),
        xinchuang_required=bool(data.get("xinchuang_required", False)),
        node_selector=dict(data.get("node_selector", {})),
        xinchuang_preferred=bool(data.get("xinchuang_preferred", False)),
        gpu_models=tuple(data.get("gpu_models", ())),
        tolerations=tuple(
            Toleration(str(k), str(o), str(v), str(e)) for k, o, v, e in data.get("tolerations", ())
        ),
        clusters=tuple(data.get("clusters", ())),
        preferred_clusters=tuple(data.get("preferred_clusters", ())),
        cluster_selector=dict(data.get("cluster_selector", {})),
    )


def retry_to_json(policy: RetryPolicy) -> dict[str, Any]:
    if not policy.retry_on and not policy.exit_codes:
        return {}
    return {"retry_on": sorted(policy.retry_on), "exit_codes": sorted(policy.exit_codes)}


def retry_from_json(max_attempts: int, data: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=max_attempts,
        retry_on=frozenset(FailureCategory(c) for c in data.get("retry_on", ())),
        exit_codes=frozenset(int(c) for c in data.get("exit_codes", ())),
    )


def topology_to_json(t: Topology) -> dict[str, Any]:
    return {} if t == Topology() else asdict(t)


def topology_from_json(data: dict[str, Any]) -> Topology:
    return Topology(
        spread_zones=int(data.get("spread_zones", 0)),
        anti_affinity=bool(data.get("anti_affinity", False)),
        spread_group=str(data.get("spread_group", "")),
    )


def job_to_row(job: Job) -> JobRow:
    return JobRow(**job_values(job))


def job_values(job: Job) -> dict[str, Any]:
    """The job row's columns (seq and effective_priority left to the database): what
    `job_to_row` builds an ORM object from, and what a batch of submits inserts in one
    executemany without building objects (Jobs.insert_many)."""
    s = job.spec
    return {
        "job_id": job.job_id,
        "department": job.department,
        "client_id": s.client_id,
        "job_set": s.job_set,
        "name": s.name,
        "priority": s.priority,
        "priority_class": s.priority_class,
        "replicas": s.replicas,
        "resources": dict(s.resources),
        "command": list(s.command),
        "env": dict(s.env),
        "max_runtime_seconds": s.max_runtime_seconds,
        "constraints": constraints_to_json(s.constraints),
        "labels": dict(s.labels),
        "image": s.image,
        "max_attempts": s.retry.max_attempts,
        "retry": retry_to_json(s.retry),
        "topology": topology_to_json(s.topology),
        "spec_digest": job.spec_digest,
        "state": job.state.value,
        "attempt": job.attempt,
        "cluster": job.cluster,
        "reason": job.reason,
        "message": job.message[:4096],  # the column's width: PostgreSQL refuses longer
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "max_runtime_changed_at": job.max_runtime_changed_at,
    }


def job_from_row(row: JobRow) -> Job:
    spec = JobSpec(
        client_id=row.client_id,
        command=tuple(row.command),
        resources=dict(row.resources),
        job_set=row.job_set,
        name=row.name,
        priority=row.priority,
        priority_class=row.priority_class,
        replicas=row.replicas,
        env=dict(row.env),
        max_runtime_seconds=row.max_runtime_seconds,
        constraints=constraints_from_json(row.constraints),
        labels=dict(row.labels),
        image=row.image,
        retry=retry_from_json(row.max_attempts, row.retry),
        topology=topology_from_json(row.topology),
    )
    return Job(
        job_id=row.job_id,
        department=row.department,
        spec=spec,
        state=JobState(row.state),
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        attempt=row.attempt,
        cluster=row.cluster,
        reason=row.reason,
        message=row.message,
        seq=row.seq or 0,
        spec_digest=row.spec_digest,
        effective_priority=row.effective_priority,
        max_runtime_changed_at=utc_opt(row.max_runtime_changed_at),
    )


def run_to_row(run: Run) -> RunRow:
    return RunRow(**run_values(run))


def run_values(run: Run) -> dict[str, Any]:
    """The run row's columns (Runs.insert writes them in one executemany)."""
    return {
        "run_id": run.run_id,
        "job_id": run.job_id,
        "attempt": run.attempt,
        "replica": run.replica,
        "cluster": run.cluster,
        "node": run.node,
        "state": run.state.value,
        "exit_code": run.exit_code,
        "message": run.message,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "devices": devices_to_text(run.devices),
        "failure": run.failure,
    }


def run_from_row(row: RunRow | Row[Any]) -> Run:
    """From an ORM row or a Core row of every run column (Runs reads the latter)."""
    return Run(
        run_id=row.run_id,
        job_id=row.job_id,
        attempt=row.attempt,
        replica=row.replica,
        cluster=row.cluster,
        node=row.node,
        state=RunState(row.state),
        created_at=utc(row.created_at),
        exit_code=row.exit_code,
        message=row.message,
        started_at=utc_opt(row.started_at),
        finished_at=utc_opt(row.finished_at),
        devices=devices_from_text(row.devices),
        failure=row.failure,
    )


def devices_to_text(devices: tuple[int, ...]) -> str:
    return ",".join(str(d) for d in devices)


def devices_from_text(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split(",")) if text else ()


def event_from_row(row: JobEventRow) -> JobEvent:
    return JobEvent(
        event_id=row.event_id or 0,
        job_id=row.job_id,
        department=row.department,
        job_set=row.job_set,
        state=JobState(row.state),
        created_at=utc(row.created_at),
        reason=row.reason,
        message=row.message,
        cluster=row.cluster,
        node=row.node,
        attempt=row.attempt,
        exit_code=row.exit_code,
    )


def explanation_to_row(e: Explanation) -> ExplanationRow:
    return ExplanationRow(**explanation_values(e))


def explanation_values(e: Explanation) -> dict[str, Any]:
    """The row's column values (a plain dict: bulk inserts skip the model's per-row checks)."""
    return {
        "job_id": e.job_id,
        "reason": e.reason,
        "message": e.message[:4096],  # the column's width: PostgreSQL refuses longer
        "verdicts": [
            {"cluster": v.cluster, "eligible": v.eligible, "reason": v.reason, "message": v.message}
            for v in e.clusters
        ],
        "evaluated_at": e.evaluated_at,
    }


def explanation_from_row(row: ExplanationRow, state: JobState) -> Explanation:
    return Explanation(
        job_id=row.job_id,
        state=state,
        reason=row.reason,
        message=row.message,
        clusters=tuple(
            ClusterVerdict(v["cluster"], bool(v["eligible"]), v["reason"], v["message"])
            for v in row.verdicts
        ),
        evaluated_at=utc(row.evaluated_at),
    )
