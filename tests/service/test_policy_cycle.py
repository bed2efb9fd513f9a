"""The policy in real cycles on a real SQLite store: a department borrows another's idle
cluster and the owner's job then outranks the borrower; a quota-bound job waits with the
quota's numbers; queue positions and decayed usage are stored by the cycle."""

from __future__ import annotations

from dataclasses import replace

from scheduler.domain import reasons
from scheduler.domain.quotas import ResourceQuota
from scheduler.domain.states import JobState, RunState
from scheduler.placement import EngineParams, check, solve
from scheduler.service.agent_sync import RunReport
from scheduler.service.governance import GovernanceService
from scheduler.service.policy import plan
from scheduler.service.problem_builder import build_problem
from scheduler.service.snapshot import take_snapshot
from tests.service.conftest import Pool, node, spec

CPU4 = [ResourceQuota("cpu", 4000)]


def _governance(pool: Pool) -> GovernanceService:
    return GovernanceService(pool.store, pool.clock)


def _run_all(pool: Pool, cluster: str) -> list[str]:
    """The agent of `cluster` starts what it was leased; returns the run ids."""
    runs = [lease.run.run_id for lease in pool.sync(cluster).start]
    pool.sync(cluster, [RunReport(r, RunState.RUNNING) for r in runs])
    return runs


def _job(pool: Pool, job_id: str) -> tuple[JobState, str, str, int | None]:
    with pool.store.unit(write=False) as tx:
        job = tx.jobs.get(job_id)
    return job.state, job.reason, job.message, job.effective_priority


def test_a_borrower_of_an_idle_cluster_is_outranked_when_the_owner_needs_it(pool: Pool) -> None:
    """公安局 and 交通局 each hold 4 cores, one 4-core cluster each: 公安局 fills both (one job
    borrows 交通局's idle share); 交通局's job then ranks 600 (its guarantee) against the
    borrower's 100, 交通局 may borrow nothing; with the running jobs made preemptible the
    engine evicts the borrower for 交通局's job and keeps 公安局's guaranteed one."""
    gov = _governance(pool)
    gov.set_quota("公安局", {}, CPU4)
    gov.set_quota("交通局", {}, CPU4)
    pool.cluster("a", [node("a", "n1", cpu=4000, memory=8192)])
    pool.cluster("b", [node("b", "n1", cpu=4000, memory=8192)])
    first, second = pool.submit(spec("p1", cpu=4000), spec("p2", cpu=4000))
    assert pool.cycle.run_once().placed == 2
    _run_all(pool, "a")
    _run_all(pool, "b")
    (owner,) = pool.submit(spec("t1", cpu=4000), department="交通局")
    pool.cycle.run_once()
    state, _, _, effective = _job(pool, owner)
    assert state is JobState.QUEUED and effective == 600

    with pool.store.unit(write=False) as tx:
        snap = take_snapshot(tx, pool.clock.now(), 10, pool.clock.now(), 100)
    policy = plan(snap, pool.settings.fair_share_half_life_s)
    assert policy.within == {first, owner}
    assert policy.priority[second] == 0 + 24  # borrowing: class 0 + the whole bonus (F = 1)
    quotas = {q.department: q for q in policy.quotas}
    assert (quotas["公安局"].used, quotas["公安局"].borrow_limit) == (8000, 4000)
    assert (quotas["交通局"].used, quotas["交通局"].borrow_limit) == (0, 0)
    problem = build_problem(snap, policy=policy).problem
    assert problem is not None
    by_name = dict(zip(problem.job_names, problem.job_priority, strict=True))
    assert by_name[owner] == 600 > by_name[second]
    assert {(q.nominal, q.borrow_limit) for q in problem.quotas} == {(4000, 4000), (4000, 0)}

    # With the running jobs preemptible (what a preemptible class will make them), the engine
    # reclaims: 交通局's job replaces 公安局's borrowing one, the guaranteed one stays.
    queued = len(problem.job_names) - len(snap.running)
    # (build_problem without preemption rules allows no eviction: max_evictions 0; lift it.)
    preemptible = replace(
        problem,
        job_preempt_cost=(-1,) * queued + (1,) * len(snap.running),
        max_evictions=-1,
    )
    outcome = solve(preemptible, params=EngineParams(time_limit_s=2.0), warm_start=None)
    assert outcome.solution is not None and check(preemptible, outcome.solution) == []
    placed = {
        name
        for name, nodes in zip(problem.job_names, outcome.solution.assignment, strict=True)
        if nodes is not None
    }
    assert placed == {owner, first}


def test_a_quota_bound_job_waits_with_the_quotas_numbers(pool: Pool) -> None:
    """交通局 holds 2 cores without borrowing on an 8-core cluster: of two 2-core jobs one
    runs, the other stays QUEUED as QUOTA_EXHAUSTED saying used 2000 of nominal 2000 +
    borrowing 0, although the cluster has room."""
    _governance(pool).set_quota("交通局", {}, [ResourceQuota("cpu", 2000, 0)])
    pool.cluster("a", [node("a", "n1", cpu=8000, memory=8192)])
    _, second = pool.submit(spec("t1", cpu=2000), spec("t2", cpu=2000), department="交通局")
    assert pool.cycle.run_once().placed == 1
    state, reason, message, _ = _job(pool, second)
    assert state is JobState.QUEUED and reason == reasons.QUOTA_EXHAUSTED
    assert message.startswith("cpu used 2000 of nominal 2000 + borrowing 0 in the whole pool")
    assert "quota of 交通局" in message and "needs 2000" in message
    assert pool.jobs.explain("交通局", second).reason == reasons.QUOTA_EXHAUSTED


def test_queue_positions_follow_effective_priority_then_age(pool: Pool) -> None:
    """A running job fills the 2-core cluster: the queue is ranked by effective priority
    (priority 900 first), then age; positions count in the department and in the pool."""
    pool.cluster("a", [node("a", "n1", cpu=2000, memory=8192)])
    pool.submit(spec("filler", cpu=2000))
    pool.cycle.run_once()
    _run_all(pool, "a")
    old, urgent = pool.submit(spec("p1", cpu=2000), spec("p2", cpu=2000, priority=900))
    (other,) = pool.submit(spec("t1", cpu=2000), department="交通局")
    pool.cycle.run_once()
    with pool.store.unit(write=False) as tx:
        positions = {j: tx.queue.positions(tx.jobs.get(j)) for j in (old, urgent, other)}
    assert positions == {urgent: (1, 1), old: (2, 2), other: (1, 3)}


def test_the_cycle_advances_and_stores_decayed_usage(pool: Pool) -> None:
    """A running 2-core job on a 4-core pool adds half the pool per second: after a minute's
    cycle the store holds 30 pool-seconds of cpu (memory 256 of 8192 adds 1.9)."""
    pool.cluster("a", [node("a", "n1", cpu=4000, memory=8192)])
    pool.submit(spec("p1", cpu=2000))
    pool.cycle.run_once()
    runs = _run_all(pool, "a")
    pool.cycle.run_once()
    pool.clock.advance(60)
    pool.sync("a", [RunReport(r, RunState.RUNNING) for r in runs])
    pool.submit(spec("p2", cpu=4000))
    pool.cycle.run_once()
    with pool.store.unit(write=False) as tx:
        usage = tx.fair_share.usage()
    value, when = usage["公安局"]
    assert when == pool.clock.now()
    assert abs(value - 60 * (2000 / 4000 + 256 / 8192)) < 0.01


def test_fair_share_gives_the_room_to_the_department_that_used_less(pool: Pool) -> None:
    """Neither department has a quota, so both borrow and fair share ranks them. 公安局 ran a
    4-core job on the 4-core pool for an hour of minute-long cycles; then both want the whole
    pool, 公安局 first: the cycle leases 交通局's job (fair-share factor 1 against 2^-2 for the
    department that holds all the decayed usage), and 公安局's waits behind it."""
    pool.cluster("a", [node("a", "n1", cpu=4000, memory=8192)])
    (early,) = pool.submit(spec("early", cpu=4000))
    pool.cycle.run_once()
    runs = _run_all(pool, "a")
    for _ in range(60):
        pool.clock.advance(60)
        pool.sync("a", [RunReport(r, RunState.RUNNING) for r in runs])
        pool.cycle.run_once()
    pool.sync("a", [RunReport(r, RunState.SUCCEEDED) for r in runs])
    assert _job(pool, early)[0] is JobState.SUCCEEDED
    with pool.store.unit(write=False) as tx:
        usage = tx.fair_share.usage()
    assert usage["公安局"][0] > 3000 and usage.get("交通局", (0.0, None))[0] == 0
    (heavy,) = pool.submit(spec("heavy", cpu=4000))
    pool.clock.advance(1)
    (light,) = pool.submit(spec("light", cpu=4000), department="交通局")
    pool.cycle.run_once()
    heavy_state, _, _, heavy_priority = _job(pool, heavy)
    light_state, _, _, light_priority = _job(pool, light)
    assert light_state is JobState.LEASED and heavy_state is JobState.QUEUED
    # Borrowing band: 0.1 x class value 0 + round(24 x F).
    assert (light_priority, heavy_priority) == (24, 6)
