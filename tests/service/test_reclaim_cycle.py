"""A quota lowered below what its department runs, through the real cycle on a real store: the
running work is tolerated for quota_reclaim_delay_s, then the excess is preempted (PREEMPTED
saying the quota was lowered) and stays queued as QUOTA_EXHAUSTED; GetDepartment says
since when the quota is over and when its reclaim starts."""

from __future__ import annotations

from datetime import timedelta

from scheduler.domain import reasons
from scheduler.domain.quotas import DepartmentStatus, ResourceQuota
from scheduler.domain.security import Principal, Role
from scheduler.domain.states import JobState, RunState
from scheduler.service.agent_sync import RunReport
from scheduler.service.clock import ManualClock
from scheduler.service.governance import GovernanceService
from scheduler.state import Store
from tests.service.conftest import Pool, node, spec
from tests.service.test_preemption import DEPT, age, job, make_pool, reports, runs, start_running

DELAY = 120
NODES = [node("a", f"n{i}", cpu=4000) for i in range(1, 5)]


def _pool(store: Store, **settings: object) -> Pool:
    """公安局 on cluster a's four 4-core nodes, quota 12 cores, min runtime 30 s."""
    pool = make_pool(store, ManualClock(), quota_reclaim_delay_s=DELAY, **settings)
    pool.agents.sync("a", "agent-a", NODES, [])
    _set_cpu(pool, 12000)
    return pool


def _set_cpu(pool: Pool, nominal: int, department: str = DEPT) -> None:
    GovernanceService(pool.store, pool.clock).set_quota(
        department, {}, [ResourceQuota("cpu", nominal, 0)]
    )


def _department(pool: Pool) -> DepartmentStatus:
    """GetDepartment as an operator reads it, with the cycle's reclaim delay."""
    governance = GovernanceService(pool.store, pool.clock, DELAY)
    return governance.get_department(Principal(Role.OPERATOR, "ops"), DEPT)


def _running_three(pool: Pool, cls: str = "batch") -> list[str]:
    ids = start_running(pool, *(spec(f"j{i}", cpu=4000, priority_class=cls) for i in range(1, 4)))
    age(pool, 35)
    return ids


def _stop_preempted(pool: Pool) -> None:
    """The agent gets the cancels, stops those replicas (SIGTERM) and reports them ended with
    the others still running (a Sync reports every run the agent holds)."""
    reply = pool.sync("a", reports(pool))
    ended = [RunReport(r, RunState.CANCELLED, exit_code=-15) for r in reply.cancel]
    pool.sync("a", [*(r for r in reports(pool) if r.run_id not in reply.cancel), *ended])


def test_a_lowered_quota_is_reclaimed_after_the_delay(store: Store) -> None:
    """Three 4-core batch jobs; the quota is lowered to 4 cores: GetDepartment shows it 8
    cores over since the change and reclaimed a delay later; within the delay nothing is
    evicted; after it one cycle (nothing else queued) evicts the two youngest, PREEMPTED with
    the lowered quota; once stopped they stay queued as QUOTA_EXHAUSTED, the oldest runs and
    the quota is within its limit."""
    pool = _pool(store)
    first, second, third = _running_three(pool)
    _set_cpu(pool, 4000)
    lowered_at = pool.clock.now()
    [[cpu]] = [g.resources for g in _department(pool).groups]
    assert (cpu.over_limit, cpu.quota.changed_at) == (8000, lowered_at)
    assert cpu.reclaim_at == lowered_at + timedelta(seconds=DELAY)
    assert pool.cycle.run_once().preempted == 0
    age(pool, DELAY - 10)
    assert pool.cycle.run_once().preempted == 0
    assert {job(pool, i).state for i in (first, second, third)} == {JobState.RUNNING}

    age(pool, 10)
    report = pool.cycle.run_once()
    assert report.preempted == 2
    for victim in (second, third):
        evicted = job(pool, victim)
        assert evicted.state is JobState.QUEUED and evicted.reason == reasons.PREEMPTED
        assert (
            f"preempted to reclaim a lowered quota: the quota of department {DEPT} for cpu in "
            "the whole pool was lowered to cpu=4 (nominal cpu=4 + borrowing cpu=0), over by "
            f"cpu=8 since {lowered_at:%Y-%m-%d %H:%M:%S}Z"
        ) in evicted.message
        assert "does not count against its attempts" in evicted.message
        assert [r.state for r in runs(pool, victim)] == [RunState.STOPPING]
    assert job(pool, first).state is JobState.RUNNING

    _stop_preempted(pool)
    assert pool.cycle.run_once().preempted == 0
    for victim in (second, third):
        waiting = job(pool, victim)
        assert waiting.state is JobState.QUEUED and waiting.reason == reasons.QUOTA_EXHAUSTED
        assert "cpu used 4000 of nominal 4000 + borrowing 0" in waiting.message
    assert job(pool, first).state is JobState.RUNNING
    [[cpu]] = [g.resources for g in _department(pool).groups]
    assert (cpu.used, cpu.over_limit, cpu.reclaim_at) == (4000, 0, None)


def test_the_eviction_budget_spreads_a_reclaim_over_cycles(sqlite_store: Store) -> None:
    """max_preemptions_per_cycle 1: the first cycle past the delay evicts the youngest job
    only, the next cycle the second youngest, and then nothing more."""
    pool = _pool(sqlite_store, max_preemptions_per_cycle=1)
    first, second, third = _running_three(pool)
    _set_cpu(pool, 4000)
    age(pool, DELAY)
    assert pool.cycle.run_once().preempted == 1
    assert job(pool, third).reason == reasons.PREEMPTED
    assert job(pool, second).state is JobState.RUNNING
    assert pool.cycle.run_once().preempted == 1
    assert job(pool, second).reason == reasons.PREEMPTED
    _stop_preempted(pool)
    assert pool.cycle.run_once().preempted == 0
    assert job(pool, first).state is JobState.RUNNING


def test_non_preemptible_work_is_never_reclaimed_and_others_are_placed(
    sqlite_store: Store,
) -> None:
    """The same three jobs of a non-preemptible class: past the delay nothing is evicted, a
    new job of the department waits (QUOTA_EXHAUSTED), and another department's job is placed
    on the free node in the same cycle (the problem stays feasible)."""
    pool = _pool(sqlite_store)
    ids = _running_three(pool, cls="steady")
    _set_cpu(pool, 4000)
    age(pool, DELAY + 5)
    pool.admin.create_department("交通局", "Transport")
    [mine] = pool.submit(spec("more", cpu=1000, priority_class="steady"))
    [other] = pool.submit(spec("t1", cpu=4000), department="交通局")
    report = pool.cycle.run_once()
    assert report.preempted == 0 and report.placed == 1
    assert {job(pool, i).state for i in ids} == {JobState.RUNNING}
    assert job(pool, other).state is JobState.LEASED
    assert job(pool, mine).reason == reasons.QUOTA_EXHAUSTED
