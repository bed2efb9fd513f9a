"""Spare capabilities: work that does not need a cluster's 等保 level or 信创 hardware goes
elsewhere first (one step outweighs home), so the work that needs them finds them free; a
job's own preferences are never outweighed by it."""

from __future__ import annotations

from scheduler.domain.cluster_choice import HOME_LABEL
from scheduler.domain.models import Cluster, ClusterSpec, Constraints, Job
from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.service.agent_sync import RunReport
from scheduler.service.clock import ManualClock
from scheduler.service.node_preference import spare_steps
from tests.service.conftest import Pool, node, spec


def _cluster(name: str, level: int, xinchuang: bool = False) -> Cluster:
    return Cluster(
        ClusterSpec(name, "hz", security_level=level, xinchuang=xinchuang),
        ClusterState.ACTIVE,
        ManualClock().now(),
    )


def _job(**constraints: object) -> Job:
    now = ManualClock().now()
    s = spec("j", constraints=Constraints(**constraints))  # type: ignore[arg-type]
    return Job("id", "公安局", s, JobState.QUEUED, now, now)


def _cluster_of(pool: Pool, job_id: str) -> str:
    with pool.store.unit(write=False) as tx:
        job = tx.jobs.get(job_id)
    assert job.state is JobState.LEASED, job.message
    return job.cluster


def test_steps_rank_the_pools_levels_and_add_one_for_xinchuang() -> None:
    """Levels 2, 3 and 4 rank 0, 1 and 2 (level 5 is absent, so it is no step); 信创 adds one
    when the pool also has other hardware. A job needs the rank of the lowest level at or above
    its minimum, plus one when it requires 信创."""
    steps, need = spare_steps(
        [_cluster("l2", 2), _cluster("l3", 3), _cluster("l4", 4), _cluster("x4", 4, True)]
    )
    assert steps == {"l2": 0, "l3": 1, "l4": 2, "x4": 3}
    assert [need(_job(min_security_level=v)) for v in (0, 2, 3, 4, 5)] == [0, 0, 1, 2, 2]
    assert need(_job(min_security_level=3, xinchuang_required=True)) == 2
    # All 信创: no step for it.
    steps, need = spare_steps([_cluster("a", 3, True), _cluster("b", 3, True)])
    assert steps == {}
    assert need(_job(xinchuang_required=True)) == 0


def test_work_leaves_the_level_4_home_to_the_work_that_needs_it(pool: Pool) -> None:
    """公安局 contributed the pool's only level-4 cluster, "secure" (the cheapest); its level-0
    job goes to the level-2 cluster of another department anyway, its level-4 job to "secure",
    and a job whose own preference names "secure" keeps it."""
    pool.cluster(
        "secure",
        [node("secure", "n1"), node("secure", "n2")],
        security_level=4,
        price={"cpu": 0.01},
        labels={HOME_LABEL: "公安局"},
    )
    pool.cluster(
        "plain",
        [node("plain", "n1"), node("plain", "n2")],
        price={"cpu": 0.1},
        labels={HOME_LABEL: "交通局"},
    )
    any_level, level4, named = pool.submit(
        spec("any", cpu=3000),
        spec("level4", cpu=3000, constraints=Constraints(min_security_level=4)),
        spec("named", cpu=3000, constraints=Constraints(preferred_clusters=("secure",))),
    )
    pool.cycle.run_once()
    assert [_cluster_of(pool, j) for j in (any_level, level4, named)] == [
        "plain",
        "secure",
        "secure",
    ]


def test_xinchuang_hardware_is_kept_for_the_jobs_that_require_or_prefer_it(pool: Pool) -> None:
    """The 信创 cluster is the cheaper one: a plain job still takes the other, a job requiring
    or preferring 信创 takes the 信创 one, and a plain job overflows to it when the other is
    full (a cost, never a reason to wait)."""
    xc_nodes = [node("xc", f"n{i}") for i in (1, 2, 3)]
    pool.cluster("xc", xc_nodes, xinchuang=True, price={"cpu": 0.01})
    pool.cluster("pub", [node("pub", "n1")], price={"cpu": 0.1})
    plain, required, preferred = pool.submit(
        spec("plain", cpu=3000),
        spec("required", cpu=3000, constraints=Constraints(xinchuang_required=True)),
        spec("preferred", cpu=3000, constraints=Constraints(xinchuang_preferred=True)),
    )
    pool.cycle.run_once()
    assert [_cluster_of(pool, j) for j in (plain, required, preferred)] == ["pub", "xc", "xc"]
    reply = pool.sync("pub")
    pool.sync("pub", [RunReport(lease.run.run_id, RunState.RUNNING) for lease in reply.start])
    [overflow] = pool.submit(spec("overflow", cpu=2000))
    pool.cycle.run_once()
    assert _cluster_of(pool, overflow) == "xc"
