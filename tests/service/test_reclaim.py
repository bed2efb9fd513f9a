"""Reclaiming a lowered quota on hand-built snapshots: the tolerant limit within the delay, and
after it the engine's limit lowered by exactly what the chosen jobs hold, chosen among the
evictable ones lowest priority and youngest first within the eviction budget."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from scheduler.domain.models import Cluster, ClusterSpec, Department, Job, JobSpec, Node
from scheduler.domain.quotas import PriorityClass, QuotaGroup, ResourceQuota, reclaim_from
from scheduler.domain.resources import CPU
from scheduler.domain.states import ClusterState, JobState
from scheduler.service.policy import plan
from scheduler.service.preemption import PreemptionRules
from scheduler.service.problem_builder import BuiltProblem, build_problem
from scheduler.service.snapshot import Governance, Snapshot

CHANGED = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
STARTED = CHANGED - timedelta(hours=1)
DELAY = 600.0
WEEK = 7 * 24 * 3600.0
CLASSES = {
    pc.name: pc
    for pc in (
        PriorityClass("batch", 10, preemptible=True, may_preempt=False),
        PriorityClass("steady", 10, preemptible=False, may_preempt=False),
        PriorityClass("high", 500, preemptible=True, may_preempt=False),
    )
}


def _job(job_id: str, seq: int, cls: str = "batch", dept: str = "A") -> Job:
    spec = JobSpec(job_id, ("true",), {CPU: 4000}, priority_class=cls)
    return Job(job_id, dept, spec, JobState.RUNNING, STARTED, STARTED, seq=seq)


def _snapshot(
    running: Sequence[Job],
    now: datetime,
    nominal: int = 4000,
    started: dict[str, datetime] | None = None,
    quotas: dict[str, int] | None = None,
) -> Snapshot:
    """Department A's cpu quota (or each of `quotas`, department -> nominal) lowered at
    CHANGED to `nominal` + borrowing 0, under the running 4-core jobs, one per node of
    cluster a."""
    nodes = tuple(Node("a", f"n{i}", {CPU: 4000}) for i in range(len(running)))
    nominals = quotas or {"A": nominal}
    groups = {
        d: (QuotaGroup({}, (ResourceQuota(CPU, n, 0, None, CHANGED),)),)
        for d, n in nominals.items()
    }
    departments = {d: Department(d, "", STARTED, d.rpartition("/")[0]) for d in nominals}
    cluster = Cluster(ClusterSpec("a", "hz"), ClusterState.ACTIVE, STARTED, STARTED)
    return Snapshot(
        now=now,
        clusters=(cluster,),
        states={"a": ClusterState.ACTIVE},
        nodes=nodes,
        used={},
        queued=(),
        running=tuple((job, (("a", f"n{i}"),)) for i, job in enumerate(running)),
        started={j.job_id: (started or {}).get(j.job_id, STARTED) for j in running},
        classes=CLASSES,
        governance=Governance(departments, groups, {}),
    )


def _build(snap: Snapshot, budget: int = 10) -> BuiltProblem:
    rules = PreemptionRules(min_runtime_s=300, budget=budget, reclaim_delay_s=DELAY)
    return build_problem(snap, rules=rules, policy=plan(snap, WEEK))


def _limit(built: BuiltProblem) -> int:
    assert built.problem is not None
    (quota,) = built.problem.quotas
    return quota.nominal + quota.borrow_limit


def _limits(built: BuiltProblem) -> list[int]:
    assert built.problem is not None
    return sorted(q.nominal + q.borrow_limit for q in built.problem.quotas)


def _three(cls2: str = "batch", cls3: str = "batch") -> list[Job]:
    return [_job("a1", 1), _job("a2", 2, cls2), _job("a3", 3, cls3)]


def test_within_the_delay_the_limit_stays_at_what_runs() -> None:
    """Lowered to 4 cores under 12 running, 599 s ago: nothing is reclaimed and the engine's
    limit is what runs (12 cores), so the running work stands."""
    built = _build(_snapshot(_three(), CHANGED + timedelta(seconds=DELAY - 1)))
    assert built.reclaims == ()
    assert _limit(built) == 12000


def test_after_the_delay_the_limit_drops_by_exactly_the_chosen_jobs() -> None:
    """Past the delay the 8 excess cores are reclaimed: the borrowing a1 and a3 (the class-500
    a2 is within the guarantee, ranked above them) are chosen, youngest first, and the limit
    is 12 - 8 = 4 cores."""
    built = _build(_snapshot(_three(cls2="high"), CHANGED + timedelta(seconds=DELAY)))
    (r,) = built.reclaims
    assert r.victims == ("a1", "a3")
    assert (r.excess, r.amount, r.engine_limit) == (8000, 8000, 4000)
    assert _limit(built) == 4000
    assert r.note() == (
        "quota of department A for cpu in the whole pool was lowered to cpu=4 (nominal cpu=4 "
        "+ borrowing cpu=0), over by cpu=8 since 2026-12-03 08:00:00Z"
    )


def test_only_what_the_excess_needs_is_chosen_youngest_first() -> None:
    """Lowered to 8 cores under 12: one job covers the 4 excess cores, the youngest (a3),
    although the budget would allow more."""
    (r,) = _build(_snapshot(_three(), CHANGED + timedelta(hours=1), nominal=8000)).reclaims
    assert (r.victims, r.amount, r.engine_limit) == (("a3",), 4000, 8000)


def test_non_preemptible_and_young_jobs_are_never_chosen() -> None:
    """a3 is of a non-preemptible class and a2 started 10 s ago (min runtime 300 s): only a1
    can be evicted, so 4 of the 8 excess cores are reclaimed (limit 8 cores)."""
    now = CHANGED + timedelta(hours=1)
    snap = _snapshot(_three(cls3="steady"), now, started={"a2": now - timedelta(seconds=10)})
    built = _build(snap)
    (r,) = built.reclaims
    assert (r.victims, r.amount) == (("a1",), 4000)
    assert _limit(built) == 8000
    assert built.problem is not None
    costs = built.problem.job_preempt_cost
    assert [costs[k] >= 0 for k in range(3)] == [True, False, False]


def test_nothing_evictable_keeps_the_tolerant_limit() -> None:
    """Every job non-preemptible: no reclaim, the engine's limit stays at what runs."""
    jobs = [_job("a1", 1, "steady"), _job("a2", 2, "steady")]
    built = _build(_snapshot(jobs, CHANGED + timedelta(hours=1)))
    assert built.reclaims == ()
    assert _limit(built) == 8000


def test_the_eviction_budget_bounds_the_choice() -> None:
    """A budget of one eviction: only the youngest borrower (a3) is chosen, the limit drops by
    its 4 cores to 8; no budget at all: nothing is reclaimed."""
    snap = _snapshot(_three(), CHANGED + timedelta(hours=1))
    (r,) = _build(snap, budget=1).reclaims
    assert (r.victims, r.engine_limit) == (("a3",), 8000)
    assert _build(snap, budget=0).reclaims == ()


def test_reclaim_starts_a_delay_after_the_change_and_only_over_the_limit() -> None:
    """Over nominal + borrowing: the delay after changed_at; within it, unlimited borrowing
    or a quota never stored: no reclaim."""
    assert reclaim_from(ResourceQuota(CPU, 4000, 0, None, CHANGED), 4001, DELAY) == (
        CHANGED + timedelta(seconds=DELAY)
    )
    assert reclaim_from(ResourceQuota(CPU, 4000, 0, None, CHANGED), 4000, DELAY) is None
    assert reclaim_from(ResourceQuota(CPU, 4000, None, None, CHANGED), 9000, DELAY) is None
    assert reclaim_from(ResourceQuota(CPU, 4000, 0), 9000, DELAY) is None


def test_quotas_over_their_limits_share_the_budget_and_count_a_job_once() -> None:
    """A (4 cores) and its division A/x (4 cores) both lowered under a1, x1, x2: A's 8 excess
    cores take x2 (borrowing in A/x) and then x1 (younger than a1), which also cover A/x's 4;
    with a budget of one, x2 alone serves both: A's limit drops to 8, A/x's to 4."""
    jobs = [_job("a1", 1), _job("x1", 2, dept="A/x"), _job("x2", 3, dept="A/x")]
    snap = _snapshot(jobs, CHANGED + timedelta(hours=1), quotas={"A": 4000, "A/x": 4000})
    parent, child = _build(snap).reclaims
    assert (parent.quota.department, parent.victims, parent.engine_limit) == (
        "A",
        ("x1", "x2"),
        4000,
    )
    assert (child.quota.department, child.victims, child.engine_limit) == (
        "A/x",
        ("x1", "x2"),
        4000,
    )
    built = _build(snap, budget=1)
    assert [(r.victims, r.amount) for r in built.reclaims] == [(("x2",), 4000), (("x2",), 4000)]
    assert _limits(built) == [4000, 8000]
