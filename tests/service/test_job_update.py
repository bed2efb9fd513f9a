"""UpdateJob: a job's max runtime changes while it waits or runs, and running replicas' agents
are told."""

from __future__ import annotations

import pytest

from scheduler.domain import reasons
from scheduler.domain.errors import FailedPrecondition, InvalidSpec, NotFound
from scheduler.domain.states import JobState, RunState
from scheduler.service.agent_sync import RunReport
from scheduler.service.job_update import JobUpdate, format_seconds
from tests.service.conftest import Pool, node, spec


def test_a_queued_job_is_leased_with_the_new_limit(pool: Pool) -> None:
    """A queued job's new limit is stored, recorded as an event, and carried by its lease."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("q", max_runtime_seconds=600))
    view = pool.jobs.update("公安局", job_id, JobUpdate(max_runtime_seconds=7200))
    assert view.job.spec.max_runtime_seconds == 7200 and view.job.state is JobState.QUEUED
    events = pool.jobs.events("公安局", 0, job_id=job_id)
    assert (events[-1].reason, events[-1].message) == (
        reasons.MAX_RUNTIME_CHANGED,
        "max runtime changed from 10m to 2h",
    )
    pool.cycle.run_once()
    [lease] = pool.sync("a").start
    assert lease.job.spec.max_runtime_seconds == 7200


def test_live_runs_get_the_changed_limit_in_every_reply(pool: Pool) -> None:
    """Once changed, the limit of each live run is in every sync reply; finished runs and jobs
    never changed get none."""
    pool.cluster("a", [node("a", "n1")])
    [job_id, other] = pool.submit(spec("r"), spec("s"))
    pool.cycle.run_once()
    runs = {lease.job.job_id: lease.run.run_id for lease in pool.sync("a").start}
    reports = [RunReport(runs[job_id], RunState.RUNNING), RunReport(runs[other], RunState.RUNNING)]
    assert pool.sync("a", reports).runtime_limits == ()
    pool.jobs.update("公安局", job_id, JobUpdate(max_runtime_seconds=90))
    for _ in range(2):
        assert pool.sync("a", reports).runtime_limits == ((runs[job_id], 90),)
    done = [RunReport(runs[job_id], RunState.SUCCEEDED, 0), reports[1]]
    assert pool.sync("a", done).runtime_limits == ()


def test_bad_updates_name_the_field(pool: Pool) -> None:
    """Out of bounds or empty updates are INVALID_ARGUMENT on max_runtime_seconds; a finished
    job is FAILED_PRECONDITION and another department's job NOT_FOUND."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("b"))
    for bad in (0, -5, 30 * 86400 + 1):
        with pytest.raises(InvalidSpec) as caught:
            pool.jobs.update("公安局", job_id, JobUpdate(max_runtime_seconds=bad))
        assert caught.value.field == "max_runtime_seconds" and str(bad) in str(caught.value)
    with pytest.raises(InvalidSpec, match="at least one field"):
        pool.jobs.update("公安局", job_id, JobUpdate())
    with pytest.raises(NotFound):
        pool.jobs.update("交通局", job_id, JobUpdate(max_runtime_seconds=60))
    pool.jobs.cancel("公安局", [job_id])
    with pytest.raises(FailedPrecondition, match="already finished"):
        pool.jobs.update("公安局", job_id, JobUpdate(max_runtime_seconds=60))


def test_durations_read_as_the_cli_writes_them() -> None:
    """Event messages state limits in the CLI's units."""
    assert [format_seconds(s) for s in (0, 45, 600, 5400, 90061)] == [
        "0s",
        "45s",
        "10m",
        "1h30m",
        "1d1h1m1s",
    ]
