"""How a job's state follows from the runs of its current attempt.

Shared by agent syncs (runs reported finished or missing) and the cycle's reaper (clusters
lost), so every path settles a job the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from scheduler.domain import reasons
from scheduler.domain.models import Job, Run
from scheduler.domain.states import JobState, RunState
from scheduler.state import Tx


def settle_jobs(tx: Tx, job_ids: Iterable[str], now: datetime, max_attempts: int) -> None:
    jobs = tx.jobs.get_many(job_ids)
    for job in jobs.values():
        if job.state.active:
            settle_job(tx, job, tx.runs.for_job(job.job_id, job.attempt), now, max_attempts)


def settle_job(tx: Tx, job: Job, runs: list[Run], now: datetime, max_attempts: int) -> None:
    failed = [r for r in runs if r.state is RunState.FAILED]
    broken = [r for r in runs if r.state in (RunState.LOST, RunState.CANCELLED)]
    if failed:
        run = failed[0]
        message = (
            run.message or f"replica {run.replica} on {run.node} exited with code {run.exit_code}"
        )
        _finish(tx, job, runs, JobState.FAILED, reasons.EXIT_CODE, message, now, run)
    elif runs and all(r.state is RunState.SUCCEEDED for r in runs):
        _finish(
            tx,
            job,
            runs,
            JobState.SUCCEEDED,
            reasons.COMPLETED,
            f"all {len(runs)} replicas exited with code 0",
            now,
            runs[0],
        )
    elif broken:
        # The gang lost a member without the job failing: the attempt is void. Requeue it as a
        # new attempt (the lost runs are never restarted), unless it has used them all up.
        run = broken[0]
        why = run.message or f"replica {run.replica} on {run.node} was lost"
        spent = failed_attempts(tx, job)
        if spent >= max_attempts:
            preempted = job.attempt - spent
            _finish(
                tx,
                job,
                runs,
                JobState.FAILED,
                reasons.MAX_ATTEMPTS,
                f"{why}; gave up after {spent} attempts"
                + (f" (and {preempted} preempted, not counted)" if preempted else ""),
                now,
                run,
            )
            return
        _cancel_siblings(tx, runs, now, "gang member lost; attempt abandoned")
        tx.jobs.move(
            job,
            JobState.QUEUED,
            reason=reasons.LEASE_LOST,
            message=f"{why}; requeued",
            now=now,
            cluster=run.cluster,
            node=run.node,
        )
    elif job.state is JobState.LEASED and any(r.state is RunState.RUNNING for r in runs):
        _mark_running(tx, job, runs, now)


def failed_attempts(tx: Tx, job: Job) -> int:
    """Attempts that count against max_attempts: every placement so far (job.attempt) except
    those that ended in a preemption (a PREEMPTED requeue), which was not the job's doing."""
    return job.attempt - tx.events.count(
        reasons.PREEMPTED, state=JobState.QUEUED, job_id=job.job_id
    )


def _mark_running(tx: Tx, job: Job, runs: list[Run], now: datetime) -> Job:
    """LEASED -> RUNNING with its event; returns the job as it is afterwards."""
    run = next((r for r in runs if r.state is RunState.RUNNING), runs[0])
    nodes = ", ".join(sorted({r.node for r in runs}))
    message = f"running on {run.cluster} ({nodes})"
    moved = tx.jobs.move(
        job,
        JobState.RUNNING,
        reason=reasons.RUNNING,
        message=message,
        now=now,
        cluster=run.cluster,
        node=run.node,
    )
    return job if moved is None else moved


def _finish(
    tx: Tx,
    job: Job,
    runs: list[Run],
    state: JobState,
    reason: str,
    message: str,
    now: datetime,
    run: Run,
) -> None:
    _cancel_siblings(tx, runs, now, f"job {state.value.lower()}")
    tx.jobs.move(
        job,
        state,
        reason=reason,
        message=message,
        now=now,
        cluster=run.cluster,
        node=run.node,
        exit_code=run.exit_code,
    )


def _cancel_siblings(tx: Tx, runs: list[Run], now: datetime, message: str) -> None:
    for r in runs:
        if r.state.active:
            tx.runs.transition(
                r.run_id, RunState.CANCELLED, expected=[r.state], message=message, finished_at=now
            )
