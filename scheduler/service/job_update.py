"""UpdateJob: change what may still change of a job that has not finished (its max runtime).

A queued job is leased later with the new limit. The replicas of a leased or running job get it
through their agent's sync (agent_sync sends the limits of jobs changed after submit), measured
from each replica's start, as the limit given at submit.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.domain.errors import FailedPrecondition, InvalidSpec
from scheduler.domain.models import Job
from scheduler.domain.validation import validate_max_runtime
from scheduler.service.clock import Clock
from scheduler.state import Tx


@dataclass(frozen=True)
class JobUpdate:
    """The fields to change; None leaves a field as it is."""

    max_runtime_seconds: int | None = None


def apply_update(tx: Tx, clock: Clock, job: Job, update: JobUpdate, default_runtime: int) -> Job:
    """Validates and stores `update` on `job` (locked by the caller); returns the job after."""
    if update.max_runtime_seconds is None:
        raise InvalidSpec("name at least one field to change", field="max_runtime_seconds")
    seconds = validate_max_runtime(update.max_runtime_seconds, minimum=1)
    if job.state.terminal:
        raise FailedPrecondition(
            f"job {job.job_id} already finished ({job.state.value})", field="job_id"
        )
    before = job.spec.max_runtime_seconds or default_runtime
    return tx.jobs.set_max_runtime(
        job,
        seconds,
        message=f"max runtime changed from {format_seconds(before)} to {format_seconds(seconds)}",
        now=clock.now(),
    )


def format_seconds(seconds: int) -> str:
    """`2h`, `1h30m`, `45s`: how the CLI takes durations."""
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)
