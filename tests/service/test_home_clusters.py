"""Home clusters: a cluster labelled with the department that contributed it (HOME_LABEL) is
where that department's work goes first, so a lender's own cluster stays free of work it
could not reclaim."""

from __future__ import annotations

import pytest

from scheduler.domain.cluster_choice import HOME_LABEL, choice_rank, home_clusters, job_home
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.models import Cluster, ClusterSpec, Constraints, Job, Node
from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.service.agent_sync import RunReport
from scheduler.service.clock import ManualClock
from scheduler.service.node_preference import node_preferences
from tests.service.conftest import Pool, node, spec


def _cluster(name: str, home: str = "") -> Cluster:
    labels = {HOME_LABEL: home} if home else {}
    return Cluster(ClusterSpec(name, "hz", labels=labels), ClusterState.ACTIVE, ManualClock().now())


def _job(department: str, *preferred: str) -> Job:
    now = ManualClock().now()
    s = spec("j", constraints=Constraints(preferred_clusters=preferred))
    return Job("id", department, s, JobState.QUEUED, now, now)


def _cluster_of(pool: Pool, job_id: str) -> str:
    with pool.store.unit(write=False) as tx:
        job = tx.jobs.get(job_id)
    assert job.state is JobState.LEASED, job.message
    return job.cluster


def _start(pool: Pool, cluster: str) -> None:
    reply = pool.sync(cluster)
    pool.sync(cluster, [RunReport(lease.run.run_id, RunState.RUNNING) for lease in reply.start])


def test_home_of_a_division_is_its_own_then_its_ancestors_clusters() -> None:
    """A division's home is what it contributed, then what its bureau did; a department that
    contributed nothing has none, and a job's own list replaces its home."""
    homes = home_clusters(
        [
            _cluster("b1", "交通局"),
            _cluster("d1", "交通局/信号处"),
            _cluster("x"),
            _cluster("b0", "交通局"),
        ]
    )
    assert homes == {"交通局": ("b0", "b1"), "交通局/信号处": ("d1",)}
    assert job_home("交通局/信号处", homes) == ("d1", "b0", "b1")
    assert job_home("卫健委", homes) == ()
    home = job_home("交通局", homes)
    assert [choice_rank(_job("交通局"), home, c) for c in ("b0", "b1", "x", "")] == [0, 0, 1, 1]
    assert [choice_rank(_job("交通局", "x"), home, c) for c in ("x", "b0")] == [0, 1]
    assert choice_rank(_job("卫健委"), (), "x") == 0


def test_a_home_label_must_name_a_department_path(pool: Pool) -> None:
    """Registering a cluster whose HOME_LABEL is not a department path is refused, the error
    naming the label."""
    with pytest.raises(InvalidSpec) as e:
        pool.cluster("bad", [node("bad", "n1")], labels={HOME_LABEL: "交通局//x"})
    assert e.value.field == f"labels[{HOME_LABEL}]"


def test_work_goes_home_first_so_a_lender_finds_its_cluster_free(pool: Pool) -> None:
    """ "lend" (交通局's) is cheaper than "own" (公安局's), so without home clusters 公安局's
    work would spill onto it; with them 公安局 and its division run on "own", a job naming
    its own preferred cluster and a department without a home take "spare" (the cheapest),
    and 交通局's two-node gang then finds its cluster whole."""
    pool.cluster(
        "lend",
        [node("lend", "n1"), node("lend", "n2")],
        price={"cpu": 0.01},
        labels={HOME_LABEL: "交通局"},
    )
    pool.cluster(
        "own",
        [node("own", "n1"), node("own", "n2")],
        price={"cpu": 0.1},
        labels={HOME_LABEL: "公安局"},
    )
    pool.cluster("spare", [node("spare", "n1")], price={"cpu": 0.001})
    pool.admin.create_department("公安局/刑侦", "Criminal investigation")
    pool.admin.create_department("卫健委", "Health")
    named_spec = spec("named", cpu=3000, constraints=Constraints(preferred_clusters=("spare",)))
    mine, named = pool.submit(spec("mine", cpu=3000), named_spec)
    [division] = pool.submit(spec("division", cpu=3000), department="公安局/刑侦")
    [outsider] = pool.submit(spec("outsider", cpu=1000), department="卫健委")
    pool.cycle.run_once()
    assert [_cluster_of(pool, j) for j in (mine, division, named, outsider)] == [
        "own",
        "own",
        "spare",
        "spare",
    ]
    for name in ("own", "spare"):
        _start(pool, name)

    [gang] = pool.submit(spec("gang", cpu=4000, replicas=2), department="交通局")
    pool.cycle.run_once()
    assert _cluster_of(pool, gang) == "lend"


def test_overflow_from_home_keeps_the_price_order_of_other_clusters() -> None:
    """A 公安局 job's overrides: its home keeps the price; the two other clusters, which have no
    preference slot, get a type per price list (tariff), each one step plus its own price, so
    an overflow still takes the cheaper one."""
    nodes = [Node(c, "n", {"cpu": 4000}) for c in ("own", "dear", "cheap")]
    clusters = {
        "own": _cluster("own", "公安局"),
        "dear": _cluster("dear"),
        "cheap": _cluster("cheap"),
    }
    group_cost = ((100,), (1000,), (10,))
    kinds, overrides = node_preferences(
        [_job("公安局")], nodes, clusters, group_cost, ((1000,),), {}, False
    )
    cost = {o.node_type: o.cost for o in overrides}
    unit = 1 + 1000 * 1000
    assert kinds[0] not in cost
    assert [cost[kinds[1]], cost[kinds[2]]] == [unit + 1_000_000, unit + 10_000]
