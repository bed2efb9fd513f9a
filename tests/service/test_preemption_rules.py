"""Which running jobs the builder offers for eviction, at what cost, and how many."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler.domain import reasons
from scheduler.domain.models import Cluster, ClusterSpec, Job, JobSpec, Node
from scheduler.domain.quotas import PriorityClass
from scheduler.domain.resources import CPU
from scheduler.domain.states import ClusterState, JobState
from scheduler.service.preemption import PreemptionRules, eviction_budget, rules_for
from scheduler.service.problem_builder import build_problem
from scheduler.service.settings import SchedulerSettings
from scheduler.service.snapshot import Snapshot

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CLASSES = {
    "batch": PriorityClass("batch", 10, preemptible=True, may_preempt=False),
    "steady": PriorityClass("steady", 10, preemptible=False, may_preempt=False),
    "urgent": PriorityClass("urgent", 900, preemptible=False, may_preempt=True),
}


def _job(job_id: str, seq: int, cpu: int, cls: str, state: JobState, reason: str = "") -> Job:
    spec = JobSpec(client_id=job_id, command=("true",), resources={CPU: cpu}, priority_class=cls)
    return Job(job_id, "d", spec, state, NOW, NOW, seq=seq, reason=reason, attempt=1)


def _snapshot(stopping: bool = False) -> Snapshot:
    """Five running jobs on five 4-core nodes: batch for 10 min (1 and 3 cores), batch for 1
    min, steady and class-less for 10 min; queued: an urgent job and a class-less one."""
    cluster = Cluster(ClusterSpec(name="c", region="r"), ClusterState.ACTIVE, NOW, NOW)
    nodes = tuple(Node("c", f"n{i}", {CPU: 4000}) for i in range(6))
    running = (
        _job("old-small", 1, 1000, "batch", JobState.RUNNING),
        _job("old-big", 2, 3000, "batch", JobState.RUNNING),
        _job("young", 3, 1000, "batch", JobState.RUNNING),
        _job("steady", 4, 1000, "steady", JobState.RUNNING),
        _job("plain", 5, 1000, "", JobState.RUNNING),
    )
    ran = {"young": 60}
    return Snapshot(
        now=NOW,
        clusters=(cluster,),
        states={"c": ClusterState.ACTIVE},
        nodes=nodes,
        used={},
        queued=(
            _job("urgent", 6, 4000, "urgent", JobState.QUEUED),
            _job("bare", 7, 1000, "", JobState.QUEUED, reasons.AWAITING_PREEMPTION),
        ),
        running=tuple((j, (("c", f"n{i}"),)) for i, j in enumerate(running)),
        started={j.job_id: NOW - timedelta(seconds=ran.get(j.job_id, 600)) for j in running},
        stopping={("c", "n5"): {CPU: 3000}} if stopping else {},
        classes=CLASSES,
    )


def test_only_old_enough_jobs_of_preemptible_classes_are_offered() -> None:
    """Preemptible: the two batch jobs and the class-less one past min_runtime_s; not the young
    batch job or the steady one (a non-preemptible class). The bigger costs more, the
    class-less one as much as the batch job of its size and age; all cost more than any one
    placement's money."""
    snap = _snapshot()
    built = build_problem(snap, rules=PreemptionRules(min_runtime_s=300, budget=3))
    p = built.problem
    assert p is not None
    names = [j.job_id for j in (*built.jobs, *built.running)]
    cost = dict(zip(names, p.job_preempt_cost, strict=True))
    assert cost["urgent"] == cost["bare"] == -1
    assert cost["young"] == cost["steady"] == -1
    assert 0 < cost["old-small"] == cost["plain"] < cost["old-big"]
    assert p.max_evictions == 3
    may = dict(zip(names, p.job_may_preempt, strict=True))
    assert may["urgent"] and not may["bare"] and not may["old-small"]


def test_no_budget_offers_nothing() -> None:
    """Budget 0 (e.g. the minute's preemptions used up): every running job stays."""
    built = build_problem(_snapshot(), rules=PreemptionRules(min_runtime_s=0, budget=0))
    assert built.problem is not None
    assert all(c == -1 for c in built.problem.job_preempt_cost or (-1,))
    assert built.problem.max_evictions == 0


def test_stopping_replicas_hold_their_room() -> None:
    """A preempted replica still stopping on n5 is reserved capacity there."""
    built = build_problem(_snapshot(stopping=True))
    assert built.problem is not None
    assert built.problem.node_reserved[5] == (3000,)


def test_budget_is_the_per_cycle_cap_within_what_the_minute_leaves() -> None:
    """10 per cycle, 30 per minute: 10 with 5 used, 2 with 28 used, 0 with 31 used; a job
    awaiting its victims may not preempt again while any replica is still stopping."""
    s = SchedulerSettings(max_preemptions_per_cycle=10, max_preemptions_per_minute=30)
    assert [eviction_budget(s, used) for used in (5, 28, 31)] == [10, 2, 0]
    queued = _snapshot().queued
    assert rules_for(s, 0, queued, anything_stopping=True).waiting == {"bare"}
    assert rules_for(s, 0, queued, anything_stopping=False).waiting == frozenset()
