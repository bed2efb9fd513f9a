"""SQLModel tables. Only this package sees them; everything else gets domain objects.

Maps and lists (resources, labels, constraints, command) are JSON columns: they are read and
written whole with their row and never queried inside, so normalising them buys nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def _serial() -> Any:
    # BIGINT identity on PostgreSQL; SQLite only autoincrements "INTEGER PRIMARY KEY".
    return Column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )


class DepartmentRow(SQLModel, table=True):
    __tablename__ = "department"

    name: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(default="", max_length=256)
    created_at: datetime
    # "" at the top of the tree; else the name up to its last "/" (scheduler.domain.quotas).
    parent: str = Field(default="", max_length=64)
    # Names of the priority classes its jobs may use.
    priority_classes: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # Fair-share weight (Slurm's shares): its part of the pool above the guarantees, against
    # its siblings' weights.
    fair_share_weight: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class ClusterRow(SQLModel, table=True):
    __tablename__ = "cluster"

    name: str = Field(primary_key=True, max_length=63)
    region: str = Field(max_length=63)
    zone: str = Field(default="", max_length=63)
    provider: str = Field(default="", max_length=63)
    security_level: int
    xinchuang: bool = False
    price: dict[str, float] = _json()
    labels: dict[str, str] = _json()
    state: str = Field(max_length=16)
    created_at: datetime
    last_heartbeat: datetime | None = None
    agent_id: str = Field(default="", max_length=256)
    # The agent's last reported failure (SyncRequest.last_error); empty while it applies fine.
    agent_error: str = Field(default="", max_length=1024)


class NodeRow(SQLModel, table=True):
    __tablename__ = "node"

    cluster: str = Field(primary_key=True, foreign_key="cluster.name", max_length=63)
    name: str = Field(primary_key=True, max_length=253)
    capacity: dict[str, int] = _json()
    labels: dict[str, str] = _json()
    # [[key, value, effect], ...] sorted (scheduler.domain.taints); [] for most nodes.
    taints: list[list[str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    updated_at: datetime


class JobRow(SQLModel, table=True):
    __tablename__ = "job"
    __table_args__ = (
        UniqueConstraint("department", "client_id", name="uq_job_department_client_id"),
        Index("ix_job_department_seq", "department", "seq"),
        Index("ix_job_state", "state"),
        # Queue positions count ranges of these two (QueueRanks.positions; migration 0016).
        Index("ix_job_state_effective_priority", "state", "effective_priority", "seq"),
        Index(
            "ix_job_department_state_effective_priority",
            "department",
            "state",
            "effective_priority",
            "seq",
        ),
        # The cycle's queue order (Jobs.queued_first; migration 0016_job_queue_indexes).
        Index(
            "ix_job_queue_rank",
            "state",
            text("coalesce(effective_priority, priority) DESC"),
            "seq",
        ),
    )

    # seq orders jobs by submit (FIFO ties, pagination); job_id is the public id.
    seq: int | None = Field(default=None, sa_column=_serial())
    job_id: str = Field(unique=True, max_length=36)
    department: str = Field(foreign_key="department.name", max_length=64)
    client_id: str = Field(max_length=128)
    job_set: str = Field(max_length=128)
    name: str = Field(default="", max_length=128)
    priority: int = 0
    # The priority class named at submit ("" for a bare priority); kept for preemption.
    priority_class: str = Field(default="", max_length=63)
    replicas: int = 1
    resources: dict[str, int] = _json()
    command: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    env: dict[str, str] = _json()
    max_runtime_seconds: int = 0
    constraints: dict[str, Any] = _json()
    labels: dict[str, str] = _json()
    # JobSpec.image ("" = the agent's default; migration 0009_job_image).
    image: str = Field(default="", max_length=512)
    # SHA-256 of the canonical validated spec: a client_id reused with another spec is refused.
    spec_digest: str = Field(default="", max_length=64)
    state: str = Field(max_length=16)
    attempt: int = 0
    cluster: str = Field(default="", max_length=63)
    reason: str = Field(default="", max_length=64)
    message: str = Field(default="", max_length=4096)
    created_at: datetime
    updated_at: datetime
    # The scheduling cycle's effective priority of a queued job (scheduler.service.policy),
    # written when it changes; NULL until a cycle has ranked the job. Queue positions count
    # the queued jobs ahead by it.
    effective_priority: int | None = None
    # When JobService.UpdateJob last changed max_runtime_seconds (migration 0010).
    max_runtime_changed_at: datetime | None = None
    # JobSpec.max_attempts (0: the scheduler's) and {"retry_on": [...], "exit_codes": [...]}
    # (scheduler.domain.retry; migration 0011).
    max_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    retry: dict[str, Any] = _json()
    # JobSpec.topology: {"spread_zones", "anti_affinity", "spread_group"}, {} when unset
    # (migration 0014_job_topology).
    topology: dict[str, Any] = _json()


class RunRow(SQLModel, table=True):
    __tablename__ = "run"
    __table_args__ = (
        Index("ix_run_job_attempt", "job_id", "attempt"),
        Index("ix_run_cluster_state", "cluster", "state"),
    )

    run_id: str = Field(primary_key=True, max_length=36)
    job_id: str = Field(foreign_key="job.job_id", max_length=36)
    attempt: int
    replica: int
    cluster: str = Field(max_length=63)
    node: str = Field(max_length=253)
    state: str = Field(max_length=16)
    exit_code: int | None = None
    message: str = Field(default="", max_length=4096)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Device ids the cycle chose on `node`, comma-separated ("" = none; migration 0012).
    devices: str = Field(default="", max_length=512)
    # Run.failure (migration 0011).
    failure: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": ""})


class JobEventRow(SQLModel, table=True):
    __tablename__ = "job_event"
    __table_args__ = (
        Index("ix_job_event_department_id", "department", "event_id"),
        # The per-minute preemption budget counts recent PREEMPTED events (migration 0005).
        Index("ix_job_event_reason_created", "reason", "created_at"),
    )

    event_id: int | None = Field(default=None, sa_column=_serial())
    job_id: str = Field(max_length=36, index=True)
    department: str = Field(max_length=64)
    job_set: str = Field(max_length=128)
    state: str = Field(max_length=16)
    reason: str = Field(default="", max_length=64)
    message: str = Field(default="", max_length=4096)
    cluster: str = Field(default="", max_length=63)
    node: str = Field(default="", max_length=253)
    attempt: int = 0
    exit_code: int | None = None
    created_at: datetime


class ExplanationRow(SQLModel, table=True):
    """The latest explanation of a job, overwritten by each cycle that evaluates it."""

    __tablename__ = "explanation"

    job_id: str = Field(primary_key=True, foreign_key="job.job_id", max_length=36)
    reason: str = Field(max_length=64)
    message: str = Field(max_length=4096)
    verdicts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    evaluated_at: datetime


class PrincipalRow(SQLModel, table=True):
    """A named principal (admin, security-admin, auditor, operator)."""

    __tablename__ = "principal"

    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=32)
    created_at: datetime
    created_by: str = Field(max_length=128)


class TokenRow(SQLModel, table=True):
    """Every bearer token of every kind (named principals, departments, agents).

    `kind` is the holder's role and `principal` its name (principal, department or cluster), so
    one indexed lookup by hash authenticates any caller.
    """

    __tablename__ = "token"
    __table_args__ = (Index("ix_token_kind_principal", "kind", "principal"),)

    token_id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=32)
    principal: str = Field(max_length=64)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime
    created_by: str = Field(max_length=128)
    revoked_at: datetime | None = None


class AuditRecordRow(SQLModel, table=True):
    """One audited call; `hash` chains it to the record before (see scheduler.state.audit_chain)."""

    __tablename__ = "audit_record"
    __table_args__ = (
        Index("ix_audit_record_time", "time"),
        Index("ix_audit_record_principal", "principal"),
    )

    # Assigned by the chain (head.seq + 1), not by the database, so a gap means a deletion.
    seq: int = Field(sa_column=Column(BigInteger(), primary_key=True, autoincrement=False))
    time: datetime
    principal: str = Field(max_length=128)
    role: str = Field(max_length=32)
    peer: str = Field(max_length=128)
    rpc: str = Field(max_length=128)
    targets: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    outcome: str = Field(max_length=32)
    message: str = Field(max_length=256)
    request_id: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHeadRow(SQLModel, table=True):
    """The single row that serializes appends (locked FOR UPDATE) and remembers the chain's
    ends: the last record, and the anchor left by retention pruning."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    hash: str = Field(max_length=64)
    anchor_seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    anchor_hash: str = Field(max_length=64)


class QuotaRow(SQLModel, table=True):
    """One resource's quota triple of a department in one cluster group."""

    __tablename__ = "quota"

    department: str = Field(primary_key=True, foreign_key="department.name", max_length=64)
    # Canonical JSON of the group's cluster label selector ("{}": the whole pool).
    cluster_selector: str = Field(primary_key=True, max_length=512)
    resource: str = Field(primary_key=True, max_length=63)
    nominal: int = Field(sa_column=Column(BigInteger(), nullable=False))
    # NULL: unlimited borrowing / all idle nominal may be lent.
    borrowing_limit: int | None = Field(default=None, sa_column=Column(BigInteger()))
    lending_limit: int | None = Field(default=None, sa_column=Column(BigInteger()))
    # When the triple last changed (SetQuota keeps it when the same triple is set again): a
    # quota lowered below what runs is reclaimed quota_reclaim_delay_s after it.
    changed_at: datetime


class PriorityClassRow(SQLModel, table=True):
    __tablename__ = "priority_class"

    name: str = Field(primary_key=True, max_length=63)
    value: int
    preemptible: bool
    may_preempt: bool
    description: str = Field(default="", max_length=256)
    created_at: datetime


class FairShareUsageRow(SQLModel, table=True):
    """A department's decayed usage (scheduler.service.policy), advanced by each cycle."""

    __tablename__ = "fair_share_usage"

    department: str = Field(primary_key=True, foreign_key="department.name", max_length=64)
    decayed_usage: float
    updated_at: datetime


class RunOutputRow(SQLModel, table=True):
    """Where one output stream of one run stands (scheduler.state.run_output)."""

    __tablename__ = "run_output"

    run_id: str = Field(primary_key=True, max_length=36)
    stream: str = Field(primary_key=True, max_length=8)
    # Bytes of the stream received so far: the offset the agent ships next.
    received: int = Field(sa_column=Column(BigInteger(), nullable=False))
    # Bytes received but not kept (between the head and the tail), plus any gap the agent left.
    dropped: int = Field(sa_column=Column(BigInteger(), nullable=False))
    # The agent said the run ended and the stream is whole (OutputChunk.eof).
    complete: bool = False
    updated_at: datetime


class RunOutputChunkRow(SQLModel, table=True):
    """Stored bytes of a stream from `byte_offset` on; at most CHUNK_BYTES per row."""

    __tablename__ = "run_output_chunk"

    run_id: str = Field(primary_key=True, max_length=36)
    stream: str = Field(primary_key=True, max_length=8)
    byte_offset: int = Field(sa_column=Column(BigInteger(), primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
