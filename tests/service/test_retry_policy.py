"""A job's retry policy decides, when an agent reports its replica failed or lost, whether the
job is requeued or fails, and the job says which and why."""

from __future__ import annotations

from scheduler.domain import reasons
from scheduler.domain.models import Job
from scheduler.domain.retry import FailureCategory, RetryPolicy
from scheduler.domain.states import JobState, RunState
from scheduler.service.agent_sync import RunReport
from tests.service.conftest import Pool, node, spec


def _attempt(pool: Pool) -> str:
    """Leases the job's next attempt to cluster a and returns its run id."""
    pool.cycle.run_once()
    [lease] = pool.sync("a").start
    return lease.run.run_id


def _job(pool: Pool, job_id: str) -> Job:
    with pool.store.unit(write=False) as tx:
        return tx.jobs.get(job_id)


def test_oom_is_retried_only_when_listed(pool: Pool) -> None:
    """An OOM-killed replica fails a job without OOM in retry_on at once (reason EXIT_CODE,
    "not retried"), and requeues one that lists it (RETRYING)."""
    pool.cluster("a", [node("a", "n1")])
    listed = RetryPolicy(retry_on=frozenset({FailureCategory.OOM}))
    [plain, retried] = pool.submit(spec("plain"), spec("retried", retry=listed))
    pool.cycle.run_once()
    runs = {lease.job.job_id: lease.run.run_id for lease in pool.sync("a").start}
    oom = "OOMKilled: memory limit 256Mi exceeded"
    pool.sync("a", [RunReport(runs[j], RunState.FAILED, 137, oom) for j in (plain, retried)])
    failed, requeued = _job(pool, plain), _job(pool, retried)
    assert (failed.state, failed.reason) == (JobState.FAILED, reasons.EXIT_CODE)
    assert "not retried: OOM is not in retry_on (LOST, NODE_FAILURE)" in failed.message
    assert (requeued.state, requeued.reason) == (JobState.QUEUED, reasons.RETRYING)
    assert requeued.message.endswith("requeued (OOM: retrying, attempt 2 of 2)")


def test_lost_replicas_retry_by_default_and_fail_when_left_out(pool: Pool) -> None:
    """A lost replica requeues a job by default (LEASE_LOST) up to the job's own max_attempts,
    and fails a job whose retry_on leaves LOST out (NOT_RETRIED)."""
    pool.cluster("a", [node("a", "n1", cpu=8000)])
    oom_only = RetryPolicy(retry_on=frozenset({FailureCategory.OOM}))
    [default, strict] = pool.submit(
        spec("default", retry=RetryPolicy(max_attempts=3)), spec("strict", retry=oom_only)
    )
    pool.cycle.run_once()
    runs = {lease.job.job_id: lease.run.run_id for lease in pool.sync("a").start}
    pool.sync("a", [RunReport(runs[j], RunState.LOST) for j in (default, strict)])
    assert _job(pool, default).reason == reasons.LEASE_LOST
    lost = _job(pool, strict)
    assert (lost.state, lost.reason) == (JobState.FAILED, reasons.NOT_RETRIED)
    for _ in range(2):
        pool.sync("a", [RunReport(_attempt(pool), RunState.LOST)])
    job = _job(pool, default)
    assert (job.state, job.attempt, job.reason) == (JobState.FAILED, 3, reasons.MAX_ATTEMPTS)


def test_the_agents_cause_outranks_the_message(pool: Pool) -> None:
    """A failure reported with its cause (RunReport.failure) is classified by it, whatever the
    message says, and the cause is kept on the run."""
    pool.cluster("a", [node("a", "n1")])
    listed = RetryPolicy(retry_on=frozenset({FailureCategory.OOM}))
    [job_id] = pool.submit(spec("caused", retry=listed))
    run_id = _attempt(pool)
    pool.sync("a", [RunReport(run_id, RunState.FAILED, 137, "killed by SIGKILL", "OOM")])
    assert _job(pool, job_id).reason == reasons.RETRYING
    with pool.store.unit(write=False) as tx:
        assert tx.runs.get_many([run_id])[run_id].failure == "OOM"
