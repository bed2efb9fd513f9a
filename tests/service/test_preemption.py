"""Preemption carried out on a real store: the victim is requeued without spending an attempt,
its runs stop while still holding their room, and the preemptor is leased only afterwards."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduler.domain import reasons
from scheduler.domain.models import Job, Run
from scheduler.domain.quotas import PriorityClass, ResourceQuota
from scheduler.domain.states import JobState, RunState
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService, RunReport
from scheduler.service.clock import ManualClock
from scheduler.service.cycle import SchedulingCycle
from scheduler.service.governance import GovernanceService
from scheduler.service.jobs import JobsService
from scheduler.service.liveness import Liveness
from scheduler.service.outcomes import failed_attempts
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store
from tests.service.conftest import Pool, node, spec

DEPT = "公安局"
CLASSES = (
    PriorityClass("batch", 10, preemptible=True, may_preempt=False),
    PriorityClass("steady", 10, preemptible=False, may_preempt=False),
    PriorityClass("urgent", 900, preemptible=False, may_preempt=True),
)


def make_pool(store: Store, clock: ManualClock, **settings: object) -> Pool:
    base = SchedulerSettings(
        lease_timeout_s=10, sync_interval_s=1, max_attempts=2, min_runtime_s=30
    )
    s = replace(base, **settings)  # type: ignore[arg-type]
    started = clock.now()
    liveness = Liveness()
    p = Pool(
        store=store,
        clock=clock,
        settings=s,
        admin=AdminService(store, clock, s, started, liveness),
        jobs=JobsService(store, clock, s),
        agents=AgentSyncService(store, clock, s, liveness),
        cycle=SchedulingCycle(store, clock, s, started, liveness),
        liveness=liveness,
    )
    p.admin.create_department(DEPT, "Public Security")
    governance = GovernanceService(store, clock)
    for pc in CLASSES:
        governance.create_priority_class(pc)
    governance.set_priority_classes(DEPT, [pc.name for pc in CLASSES])
    p.cluster("a", [node("a", "n1", cpu=4000)])
    return p


@pytest.fixture
def ppool(store: Store, clock: ManualClock) -> Pool:
    return make_pool(store, clock)


def start_running(pool: Pool, *specs: object) -> list[str]:
    """Submits, leases and reports the jobs RUNNING on cluster a."""
    ids = pool.submit(*specs)  # type: ignore[arg-type]
    pool.cycle.run_once()
    reply = pool.sync("a")
    pool.sync("a", [RunReport(lease.run.run_id, RunState.RUNNING) for lease in reply.start])
    assert {job(pool, i).state for i in ids} == {JobState.RUNNING}
    return ids


def age(pool: Pool, seconds: int) -> None:
    """Lets time pass with the agent syncing every 5 s (it must not look lost)."""
    for _ in range(seconds // 5):
        pool.clock.advance(5)
        pool.sync("a", reports(pool))


def reports(pool: Pool, state: RunState = RunState.RUNNING) -> list[RunReport]:
    """What the agent reports: every run it was leased and has not seen end, as `state`."""
    with pool.store.unit(write=False) as tx:
        active = tx.runs.active(cluster="a")
    return [RunReport(r.run_id, state) for r in active if r.state is not RunState.LEASED]


def job(pool: Pool, job_id: str) -> Job:
    with pool.store.unit(write=False) as tx:
        return tx.jobs.get(job_id)


def runs(pool: Pool, job_id: str) -> list[Run]:
    with pool.store.unit(write=False) as tx:
        return tx.runs.for_job(job_id)


def test_eviction_requeues_the_victim_and_leases_the_preemptor_after_it_stopped(
    ppool: Pool,
) -> None:
    """A running batch job preempted by an urgent one: PREEMPTED naming the urgent job, attempt
    unchanged and not counted; its run STOPPING (in the agent's cancel, holding the node) until
    the agent reports it ended, then PREEMPTED; the urgent job is leased one cycle later."""
    pool = ppool
    [low] = start_running(pool, spec("low", cpu=4000, priority_class="batch"))
    age(pool, 35)
    [high] = pool.submit(spec("high", cpu=4000, priority_class="urgent", name="urgent-report"))
    report = pool.cycle.run_once()
    assert report.preempted == 1 and report.placed == 0
    victim = job(pool, low)
    assert victim.state is JobState.QUEUED and victim.reason == reasons.PREEMPTED
    assert f"preempted by job {high} (urgent-report)" in victim.message
    assert f"of department {DEPT}" in victim.message and "a/n1" in victim.message
    assert "does not count against its attempts" in victim.message
    assert victim.attempt == 1
    with pool.store.unit(write=False) as tx:
        assert failed_attempts(tx, victim) == 0
    [run] = runs(pool, low)
    assert run.state is RunState.STOPPING
    waiting = job(pool, high)
    assert waiting.state is JobState.QUEUED and waiting.reason == reasons.AWAITING_PREEMPTION
    assert "1 preempted replica(s)" in waiting.message

    # The agent still runs it (grace period): it is told to stop it, and the room stays taken.
    reply = pool.sync("a", [RunReport(run.run_id, RunState.RUNNING)])
    assert reply.cancel == (run.run_id,)
    again = pool.cycle.run_once()
    assert again.preempted == 0 and again.placed == 0
    assert job(pool, high).reason == reasons.AWAITING_PREEMPTION
    assert job(pool, low).state is JobState.QUEUED  # never leased while its run stops

    # SIGTERM ended it (exit -15, reported as CANCELLED): PREEMPTED, not a failure.
    reply = pool.sync("a", [RunReport(run.run_id, RunState.CANCELLED, exit_code=-15)])
    assert run.run_id in reply.acknowledged
    [stopped] = runs(pool, low)
    assert stopped.state is RunState.PREEMPTED and stopped.exit_code == -15
    assert "the agent reported it cancelled" in stopped.message
    assert job(pool, low).state is JobState.QUEUED
    pool.cycle.run_once()
    assert job(pool, high).state is JobState.LEASED
    assert job(pool, low).state is JobState.QUEUED

    explained = pool.jobs.explain(DEPT, low)
    assert f"preempted by job {high}" in explained.message
    assert "does not count against its attempts" in explained.message


def test_a_preempted_attempt_is_not_counted_when_a_later_one_is_lost(store: Store) -> None:
    """max_attempts 2: preempted on attempt 1, lost on attempt 2 -> requeued (one failure),
    not FAILED, and only a further loss spends the second attempt."""
    clock = ManualClock()
    pool = make_pool(store, clock)
    [low] = start_running(pool, spec("low", cpu=4000, priority_class="batch"))
    age(pool, 35)
    [high] = pool.submit(spec("high", cpu=4000, priority_class="urgent"))
    pool.cycle.run_once()
    pool.sync("a", reports(pool, RunState.CANCELLED))
    pool.cycle.run_once()  # high leased
    reply = pool.sync("a")
    pool.sync("a", [RunReport(lease.run.run_id, RunState.SUCCEEDED, 0) for lease in reply.start])
    assert job(pool, high).state is JobState.SUCCEEDED
    pool.cycle.run_once()  # low leased again, attempt 2
    assert job(pool, low).attempt == 2
    reply = pool.sync("a")
    [lease] = reply.start
    pool.sync("a", [RunReport(lease.run.run_id, RunState.LOST, message="agent restarted")])
    requeued = job(pool, low)
    assert requeued.state is JobState.QUEUED and requeued.reason == reasons.LEASE_LOST
    pool.cycle.run_once()
    [lease] = pool.sync("a").start
    pool.sync("a", [RunReport(lease.run.run_id, RunState.LOST, message="agent restarted")])
    failed = job(pool, low)
    assert failed.state is JobState.FAILED and failed.reason == reasons.MAX_ATTEMPTS
    assert "gave up after 2 attempts (and 1 preempted, not counted)" in failed.message


@pytest.mark.parametrize(
    ("victim_class", "ran_s"),
    [("steady", 60), ("batch", 10)],
    ids=["non-preemptible-class", "too-young"],
)
def test_never_evicted(sqlite_store: Store, victim_class: str, ran_s: int) -> None:
    """A non-preemptible class and a job younger than min_runtime_s keep running; the urgent
    job waits."""
    pool = make_pool(sqlite_store, ManualClock())
    [low] = start_running(pool, spec("low", cpu=4000, priority_class=victim_class))
    age(pool, ran_s)
    [high] = pool.submit(spec("high", cpu=4000, priority_class="urgent"))
    report = pool.cycle.run_once()
    assert report.preempted == 0
    assert job(pool, low).state is JobState.RUNNING
    assert job(pool, high).state is JobState.QUEUED


def test_per_minute_budget_counts_stored_preemptions(sqlite_store: Store) -> None:
    """max_preemptions_per_minute 1: a second eviction within the minute is not offered (a new
    cycle object, as after a restart, still sees the first in the events); after it, it is."""
    clock = ManualClock()
    pool = make_pool(sqlite_store, clock, max_preemptions_per_minute=1)
    pool.agents.sync("a", "agent-a", [node("a", "n1", cpu=4000), node("a", "n2", cpu=4000)], [])
    start_running(
        pool,
        spec("low-1", cpu=4000, priority_class="batch"),
        spec("low-2", cpu=4000, priority_class="batch"),
    )
    age(pool, 35)
    pool.submit(spec("high-1", cpu=4000, priority_class="urgent"))
    assert pool.cycle.run_once().preempted == 1
    pool.sync("a", reports(pool))
    pool.submit(spec("high-2", cpu=4000, priority_class="urgent"))
    restarted = SchedulingCycle(sqlite_store, clock, pool.settings, clock.now(), pool.liveness)
    assert restarted.run_once().preempted == 0
    age(pool, 65)
    assert restarted.run_once().preempted == 1


def test_a_stopping_run_of_a_silent_agent_ends_with_the_lease(sqlite_store: Store) -> None:
    """The agent goes silent while a preempted run stops: past the lease timeout the run is
    LOST like the cluster's others, and the preempted job stays queued, its attempt uncounted
    and its preemption still explained."""
    clock = ManualClock()
    pool = make_pool(sqlite_store, clock)
    [low] = start_running(pool, spec("low", cpu=4000, priority_class="batch"))
    age(pool, 35)
    pool.submit(spec("high", cpu=4000, priority_class="urgent"))
    assert pool.cycle.run_once().preempted == 1
    clock.advance(pool.settings.lease_timeout_s + 1)
    pool.cycle.run_once()
    [run] = runs(pool, low)
    assert run.state is RunState.LOST
    victim = job(pool, low)
    assert victim.state is JobState.QUEUED  # now waiting for its cluster to come back
    with pool.store.unit(write=False) as tx:
        assert failed_attempts(tx, victim) == 0
    assert "does not count against its attempts" in pool.jobs.explain(DEPT, low).message


@pytest.mark.parametrize("borrower_class", ["batch", ""], ids=["preemptible-class", "no-class"])
def test_a_department_below_its_nominal_reclaims_from_a_borrower(
    store: Store, clock: ManualClock, borrower_class: str
) -> None:
    """Two departments with 4 cores of nominal each and one 4-core cluster each: 公安局 runs
    two preemptible jobs, one on 交通局's idle cluster (borrowed); when 交通局 submits, the
    real cycle evicts that borrower (PREEMPTED, naming the reclaim) and not 公安局's guaranteed
    job, and 交通局's job is leased once the evicted replica has stopped. Jobs without a
    class are preemptible too: otherwise borrowing with them would keep 交通局's share."""
    pool = make_pool(store, clock, min_runtime_s=0)
    pool.admin.create_department("交通局", "Transport")
    governance = GovernanceService(store, clock)
    governance.set_priority_classes("交通局", [pc.name for pc in CLASSES])
    governance.set_quota(DEPT, {}, [ResourceQuota("cpu", 4000)])
    governance.set_quota("交通局", {}, [ResourceQuota("cpu", 4000)])
    pool.cluster("b", [node("b", "n1", cpu=4000)])
    first, second = pool.submit(
        spec("p1", cpu=4000, priority_class=borrower_class),
        spec("p2", cpu=4000, priority_class=borrower_class),
    )
    assert pool.cycle.run_once().placed == 2
    for cluster in ("a", "b"):
        reply = pool.sync(cluster)
        pool.sync(cluster, [RunReport(lease.run.run_id, RunState.RUNNING) for lease in reply.start])
    assert {job(pool, i).state for i in (first, second)} == {JobState.RUNNING}
    clock.advance(1)
    (owner,) = pool.submit(spec("t1", cpu=4000, priority_class="batch"), department="交通局")
    report = pool.cycle.run_once()
    assert report.preempted == 1
    evicted = [i for i in (first, second) if job(pool, i).reason == reasons.PREEMPTED]
    assert evicted == [second]  # the younger one is the borrowed part (policy ranks by age)
    assert job(pool, second).state is JobState.QUEUED
    assert "交通局" in job(pool, evicted[0]).message
    kept = first if evicted[0] == second else second
    assert job(pool, kept).state is JobState.RUNNING
    assert job(pool, owner).reason == reasons.AWAITING_PREEMPTION
    # The victim's agent stops it and reports; the owner is leased by the next cycle.
    [stopping] = runs(pool, evicted[0])
    assert stopping.state is RunState.STOPPING
    victim_cluster = stopping.cluster
    reply = pool.sync(victim_cluster, [RunReport(stopping.run_id, RunState.RUNNING)])
    assert reply.cancel == (stopping.run_id,)
    pool.sync(victim_cluster, [RunReport(r, RunState.CANCELLED) for r in reply.cancel])
    pool.cycle.run_once()
    assert job(pool, owner).state is JobState.LEASED
    assert job(pool, owner).cluster == victim_cluster


def test_a_preemptor_keeps_the_room_it_preempted_for(store: Store, clock: ManualClock) -> None:
    """交通局 reclaims 公安局's borrowed cluster b; before the next cycle 卫健委 submits an
    urgent job that would take that room on the work term. The room stays 交通局's (its job
    is leased on b) and the urgent job waits: it may not make 交通局 preempt again."""
    pool = make_pool(store, clock, min_runtime_s=0)
    governance = GovernanceService(store, clock)
    for name in ("交通局", "卫健委"):
        pool.admin.create_department(name, name)
        governance.set_priority_classes(name, [pc.name for pc in CLASSES])
    governance.set_quota(DEPT, {}, [ResourceQuota("cpu", 4000)])
    governance.set_quota("交通局", {}, [ResourceQuota("cpu", 4000)])
    governance.set_quota("卫健委", {}, [ResourceQuota("cpu", 4000)])
    pool.cluster("b", [node("b", "n1", cpu=4000)])
    _, second = pool.submit(
        spec("p1", cpu=4000, priority_class="batch"), spec("p2", cpu=4000, priority_class="batch")
    )
    assert pool.cycle.run_once().placed == 2
    for cluster in ("a", "b"):
        reply = pool.sync(cluster)
        pool.sync(cluster, [RunReport(lease.run.run_id, RunState.RUNNING) for lease in reply.start])
    clock.advance(1)
    (owner,) = pool.submit(spec("t1", cpu=4000, priority_class="batch"), department="交通局")
    assert pool.cycle.run_once().preempted == 1
    [stopping] = runs(pool, second)
    reply = pool.sync(stopping.cluster, [RunReport(stopping.run_id, RunState.RUNNING)])
    pool.sync(stopping.cluster, [RunReport(r, RunState.CANCELLED) for r in reply.cancel])
    (urgent,) = pool.submit(spec("w1", cpu=4000, priority_class="urgent"), department="卫健委")
    pool.cycle.run_once()
    assert job(pool, owner).state is JobState.LEASED
    assert job(pool, owner).cluster == stopping.cluster
    assert job(pool, urgent).state is JobState.QUEUED
