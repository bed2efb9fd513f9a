"""How a job's state follows from the runs of its current attempt.

Shared by agent syncs (runs reported finished or missing) and the cycle's reaper (clusters
lost), so every path settles a job the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from scheduler.domain import reasons
from scheduler.domain.models import Job, Run
from scheduler.domain.retry import classify, decide
from scheduler.domain.states import JobState, RunState
from scheduler.state import Tx
from scheduler.state.job_values import Move


def settle_jobs(tx: Tx, job_ids: Iterable[str], now: datetime, max_attempts: int) -> None:
    """Settles each job by the runs of its current attempt; the jobs' moves are made together
    (Jobs.move_many: a sync settling hundreds of jobs held the database's writer for a second
    making them one by one)."""
    jobs = [job for job in tx.jobs.get_many(job_ids).values() if job.state.active]
    # The runs of every job in one read (a sync reporting thousands of runs read them per job).
    runs: dict[str, list[Run]] = {}
    for run in tx.runs.for_jobs([job.job_id for job in jobs]):
        runs.setdefault(run.job_id, []).append(run)
    moves: list[Move] = []
    for job in jobs:
        current = sorted(
            (r for r in runs.get(job.job_id, ()) if r.attempt == job.attempt),
            key=lambda r: r.replica,
        )
        if (move := settle_job(tx, job, current, now, max_attempts)) is not None:
            moves.append(move)
    tx.jobs.move_many(moves, now)


def settle_job(tx: Tx, job: Job, runs: list[Run], now: datetime, max_attempts: int) -> Move | None:
    """The move that settles `job` (None: none yet), its runs' side made already (siblings of
    an attempt that is over cancelled). `max_attempts` is the scheduler's, for jobs that set
    none (JobSpec.max_attempts)."""
    failed = [r for r in runs if r.state is RunState.FAILED]
    broken = [r for r in runs if r.state in (RunState.LOST, RunState.CANCELLED)]
    if failed or broken:
        return _settle_failure(tx, job, runs, (failed or broken)[0], now, max_attempts)
    if runs and all(r.state is RunState.SUCCEEDED for r in runs):
        return _finish(
            tx,
            job,
            runs,
            JobState.SUCCEEDED,
            reasons.COMPLETED,
            f"all {len(runs)} replicas exited with code 0",
            now,
            runs[0],
        )
    if job.state is JobState.LEASED and any(r.state is RunState.RUNNING for r in runs):
        return _mark_running(job, runs)
    return None


def _settle_failure(
    tx: Tx, job: Job, runs: list[Run], run: Run, now: datetime, max_attempts: int
) -> Move:
    """A replica failed or was lost: the attempt is over. Requeued as a new attempt when the
    job's retry policy covers the failure and attempts remain (scheduler.domain.retry), the
    job FAILED otherwise, its message saying why it was not retried."""
    category = classify(run.state, run.exit_code, run.message, run.failure)
    if run.state is RunState.FAILED:
        what = (
            run.message or f"replica {run.replica} on {run.node} exited with code {run.exit_code}"
        )
    else:
        what = run.message or f"replica {run.replica} on {run.node} was lost"
    spent = failed_attempts(tx, job)
    verdict = decide(
        job.spec.retry, category, run.exit_code, spent=spent, default_attempts=max_attempts
    )
    if not verdict.retry:
        if verdict.why.startswith("not retried"):
            reason = reasons.EXIT_CODE if run.state is RunState.FAILED else reasons.NOT_RETRIED
        else:
            reason = reasons.MAX_ATTEMPTS
        preempted = job.attempt - spent
        note = f" (and {preempted} preempted, not counted)" if preempted and spent else ""
        return _finish(
            tx, job, runs, JobState.FAILED, reason, f"{what}; {verdict.why}{note}", now, run
        )
    _cancel_siblings(tx, runs, now, "gang member failed or lost; attempt abandoned")
    return Move(
        job,
        JobState.QUEUED,
        reasons.LEASE_LOST if run.state is not RunState.FAILED else reasons.RETRYING,
        f"{what}; requeued ({verdict.why})",
        cluster=run.cluster,
        node=run.node,
    )


def failed_attempts(tx: Tx, job: Job) -> int:
    """Attempts that count against max_attempts: every placement so far (job.attempt) except
    those that ended in a preemption (a PREEMPTED requeue), which was not the job's doing."""
    return job.attempt - tx.events.count(
        reasons.PREEMPTED, state=JobState.QUEUED, job_id=job.job_id
    )


def _mark_running(job: Job, runs: list[Run]) -> Move:
    """LEASED -> RUNNING."""
    run = next((r for r in runs if r.state is RunState.RUNNING), runs[0])
    nodes = ", ".join(sorted({r.node for r in runs}))
    message = f"running on {run.cluster} ({nodes})"
    return Move(job, JobState.RUNNING, reasons.RUNNING, message, cluster=run.cluster, node=run.node)


def _finish(
    tx: Tx,
    job: Job,
    runs: list[Run],
    state: JobState,
    reason: str,
    message: str,
    now: datetime,
    run: Run,
) -> Move:
    _cancel_siblings(tx, runs, now, f"job {state.value.lower()}")
    return Move(
        job,
        state,
        reason,
        message,
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
