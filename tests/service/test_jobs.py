"""Submit, cancel, list and isolation use cases."""

from __future__ import annotations

import pytest

from scheduler.domain import reasons
from scheduler.domain.errors import FailedPrecondition, InvalidSpec, NotFound
from scheduler.domain.models import Constraints
from scheduler.domain.states import JobState
from tests.service.conftest import Pool, node, spec


def _events(pool: Pool, department: str = "公安局") -> list[tuple[str, JobState]]:
    return [(e.job_id, e.state) for e in pool.jobs.events(department, 0)]


def test_resubmit_returns_original_and_creates_nothing(pool: Pool) -> None:
    """A client_id used before returns the original job id with duplicate=True, no new job."""
    pool.cluster("a", [node("a", "n1")])
    first = pool.jobs.submit("公安局", [spec("x"), spec("y")])
    again = pool.jobs.submit("公安局", [spec("y"), spec("z"), spec("z")])
    assert [o.duplicate for o in first] == [False, False]
    assert again[0].duplicate and again[0].job_id == first[1].job_id
    assert not again[1].duplicate
    assert again[2].duplicate and again[2].job_id == again[1].job_id
    assert len(pool.jobs.page("公安局")) == 3
    assert len(_events(pool)) == 3


def test_bad_item_does_not_sink_the_batch(pool: Pool) -> None:
    """Each item succeeds or fails alone; the error names the field."""
    pool.cluster("a", [node("a", "n1")])
    out = pool.jobs.submit("公安局", [spec("ok"), spec("bad", cpu=-5), spec("r", replicas=0)])
    assert out[0].error is None and out[0].state is JobState.QUEUED
    assert isinstance(out[1].error, InvalidSpec) and out[1].error.field == "resources[cpu]"
    assert isinstance(out[2].error, InvalidSpec) and out[2].error.field == "replicas"
    assert [v.job.spec.client_id for v in pool.jobs.page("公安局")] == ["ok"]


def test_batch_limits(pool: Pool) -> None:
    """An empty batch or one above 1,000 items is refused whole, naming `items`."""
    with pytest.raises(InvalidSpec) as err:
        pool.jobs.submit("公安局", [])
    assert err.value.field == "items"
    with pytest.raises(InvalidSpec) as err:
        pool.jobs.submit("公安局", [spec(f"c{i}") for i in range(1001)])
    assert err.value.field == "items"


def test_job_no_cluster_can_run_is_rejected_with_reason(pool: Pool) -> None:
    """A constraint no registered cluster meets rejects the job at submit, with the reason."""
    pool.cluster("a", [node("a", "n1")], security_level=2)
    out = pool.jobs.submit("公安局", [spec("s", constraints=Constraints(min_security_level=4))])
    assert out[0].state is JobState.REJECTED
    assert isinstance(out[0].error, FailedPrecondition)
    assert out[0].reason == reasons.NO_ELIGIBLE_CLUSTER
    assert "等保 level 2 < required 4" in out[0].message
    explanation = pool.jobs.explain("公安局", out[0].job_id)
    assert explanation.clusters[0].reason == reasons.SECURITY_LEVEL


def test_too_big_for_any_node_is_rejected(pool: Pool) -> None:
    """A replica larger than every node of every eligible cluster is rejected."""
    pool.cluster("a", [node("a", "n1", cpu=2000)])
    out = pool.jobs.submit("公安局", [spec("big", cpu=3000)])
    assert out[0].state is JobState.REJECTED and "short cpu=1" in out[0].message


def test_departments_are_isolated(pool: Pool) -> None:
    """A department cannot read, cancel, explain or watch another department's job."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x"))
    with pytest.raises(NotFound):
        pool.jobs.get("交通局", job_id)
    with pytest.raises(NotFound):
        pool.jobs.explain("交通局", job_id)
    with pytest.raises(NotFound):
        pool.jobs.events("交通局", 0, job_id=job_id)
    [(_, state, error)] = pool.jobs.cancel("交通局", [job_id])
    assert state is None and isinstance(error, NotFound)
    assert pool.jobs.page("交通局") == []
    assert pool.jobs.get("公安局", job_id).job.state is JobState.QUEUED


def test_cancel_queued_and_finished(pool: Pool) -> None:
    """Cancelling a queued job ends it; cancelling it again is a failed precondition."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x"))
    [(_, state, error)] = pool.jobs.cancel("公安局", [job_id], "no longer needed")
    assert state is JobState.CANCELLED and error is None
    [(_, state, error)] = pool.jobs.cancel("公安局", [job_id])
    assert state is JobState.CANCELLED and isinstance(error, FailedPrecondition)
    assert _events(pool)[-1] == (job_id, JobState.CANCELLED)
    assert pool.jobs.get("公安局", job_id).job.message == "no longer needed"
