"""The pure parts of the job repository (scheduler.state.job_records): the columns that change
after insert and a known job refreshed from them, a job as a move leaves it, and an event's
column values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from scheduler.domain.models import Job
from scheduler.domain.states import JobState
from scheduler.state import mapping as m
from scheduler.state.tables import JobRow

# The fields of a job that change after insert (Jobs.move, Jobs.set_reason(s)): its columns
# of the same names are what Jobs.get_many_known reads.
MUTABLE_FIELDS = (
    "state",
    "attempt",
    "cluster",
    "reason",
    "message",
    "updated_at",
    "effective_priority",
)


MUTABLE_COLUMNS = tuple(getattr(JobRow, name) for name in MUTABLE_FIELDS)


def refreshed(job: Job, values: Sequence[Any]) -> Job:
    """`job` as read earlier, with the values of MUTABLE_COLUMNS read now; the same object
    when none changed."""
    state, attempt, cluster, reason, message, updated, effective = values
    now = (JobState(state), attempt, cluster, reason, message, m.utc(updated), effective)
    if now == (
        job.state,
        job.attempt,
        job.cluster,
        job.reason,
        job.message,
        job.updated_at,
        job.effective_priority,
    ):
        return job
    return replace(job, **dict(zip(MUTABLE_FIELDS, now, strict=True)))


@dataclass(frozen=True)
class Move:
    """One job's move for Jobs.move_many: the arguments of Jobs.move."""

    job: Job
    to: JobState
    reason: str
    message: str
    cluster: str | None = None
    attempt: int | None = None
    node: str = ""
    exit_code: int | None = None


def moved_job(
    job: Job,
    to: JobState,
    reason: str,
    message: str,
    now: datetime,
    cluster: str | None,
    attempt: int | None,
) -> Job:
    return replace(
        job,
        state=to,
        updated_at=now,
        reason=reason,
        message=message[:4096],
        cluster=job.cluster if cluster is None else cluster,
        attempt=job.attempt if attempt is None else attempt,
    )


def event_values(job: Job, *, node: str = "", exit_code: int | None = None) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "department": job.department,
        "job_set": job.spec.job_set,
        "state": job.state.value,
        "reason": job.reason,
        "message": job.message[:4096],
        "cluster": job.cluster,
        "node": node,
        "attempt": job.attempt,
        "exit_code": exit_code,
        "created_at": job.updated_at,
    }
