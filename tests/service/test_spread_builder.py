"""Snapshot -> Problem for JobSpec.topology: the solver's services over zones, narrowed
eligibility for spread groups with running members, and why a queued job waits."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.domain import reasons
from scheduler.domain.models import Cluster, ClusterSpec, Job, JobSpec, Node, Topology
from scheduler.domain.states import ClusterState, JobState
from scheduler.domain.topology import ZONE_LABEL
from scheduler.placement import EngineParams, Solution, check, solve
from scheduler.service.problem_builder import BuiltProblem, build_problem
from scheduler.service.snapshot import Snapshot
from scheduler.service.spread import Holds

NOW = datetime(2026, 12, 4, tzinfo=UTC)
CPU = 1000


def _job(job_id: str, seq: int, replicas: int = 1, dept: str = "d", **topology: object) -> Job:
    spec = JobSpec(
        client_id=job_id,
        command=("true",),
        resources={"cpu": CPU},
        replicas=replicas,
        topology=Topology(**topology),  # type: ignore[arg-type]
    )
    return Job(job_id, dept, spec, JobState.QUEUED, NOW, NOW, seq=seq)


def _cluster(name: str, zone: str = "") -> Cluster:
    return Cluster(ClusterSpec(name=name, region="hz", zone=zone), ClusterState.ACTIVE, NOW, NOW)


def _node(cluster: str, name: str, zone: str = "", cpu: int = 4 * CPU) -> Node:
    return Node(cluster, name, {"cpu": cpu}, {ZONE_LABEL: zone} if zone else {})


def _snapshot(
    clusters: tuple[Cluster, ...],
    nodes: tuple[Node, ...],
    queued: tuple[Job, ...],
    running: tuple[tuple[Job, tuple[tuple[str, str], ...]], ...] = (),
) -> Snapshot:
    used: dict[tuple[str, str], dict[str, int]] = {}
    for job, places in running:
        for place in places:
            used.setdefault(place, {"cpu": 0})["cpu"] += job.spec.resources["cpu"]
    return Snapshot(
        now=NOW,
        clusters=clusters,
        states={c.name: ClusterState.ACTIVE for c in clusters},
        nodes=nodes,
        used=used,
        queued=queued,
        running=running,
    )


def _solve(built: BuiltProblem) -> Solution:
    """The engine's answer, which the independent checker accepts."""
    assert built.problem is not None
    solution = solve(built.problem, params=EngineParams(time_limit_s=1.0, workers=1)).solution
    assert solution is not None and check(built.problem, solution) == []
    return solution


def _zones(built: BuiltProblem, solution: Solution, j: int) -> set[str]:
    nodes = solution.assignment[j]
    assert nodes is not None, f"job {j} unplaced"
    zone_of = {"a": "hz-a", "b": "hz-b"}
    return {
        built.nodes[n].labels.get(ZONE_LABEL) or zone_of.get(built.nodes[n].cluster, "")
        for n in nodes
    }


def test_a_gang_spreads_over_the_zones_of_one_cluster() -> None:
    """A 2-replica gang asking 2 zones lands in cluster k, whose nodes carry two zone labels,
    one replica per zone, not in the roomier single-zone cluster a."""
    snap = _snapshot(
        (_cluster("a", "hz-a"), _cluster("k")),
        (_node("a", "big", cpu=64 * CPU), _node("k", "k0", "hz-x"), _node("k", "k1", "hz-y")),
        (_job("gang", 1, replicas=2, spread_zones=2),),
    )
    built = build_problem(snap)
    assert built.problem is not None and built.problem.domain_keys == ("zone",)
    [service] = built.problem.services
    assert (service.jobs, service.spread_min, service.anti_affinity) == ((0,), 2, False)
    solution = _solve(built)
    assert _zones(built, solution, 0) == {"hz-x", "hz-y"}


def test_a_spread_group_spreads_its_jobs_over_clusters() -> None:
    """Two one-replica jobs of group 'web' asking 2 zones go to both single-zone clusters, though
    either cluster could hold both; another department's group of the same name is apart."""
    snap = _snapshot(
        (_cluster("a", "hz-a"), _cluster("b", "hz-b")),
        (_node("a", "a0", cpu=8 * CPU), _node("b", "b0", cpu=8 * CPU)),
        (
            _job("w1", 1, spread_zones=2, spread_group="web"),
            _job("w2", 2, spread_zones=2, spread_group="web"),
            _job("other", 3, dept="e", anti_affinity=True, spread_group="web"),
        ),
    )
    built = build_problem(snap)
    assert built.problem is not None
    assert sorted(s.jobs for s in built.problem.services) == [(0, 1), (2,)]
    solution = _solve(built)
    assert _zones(built, solution, 0) | _zones(built, solution, 1) == {"hz-a", "hz-b"}


def test_a_groups_queued_job_goes_where_its_running_jobs_are_not() -> None:
    """A group asking 2 zones whose running job is in hz-a: its queued job may use only other
    zones (and nodes with a zone); anti-affine, it also avoids the running job's node."""
    running = _job("r", 1, spread_zones=2, spread_group="web", anti_affinity=True)
    snap = _snapshot(
        (_cluster("a", "hz-a"), _cluster("b", "hz-b"), _cluster("z")),
        (_node("a", "a0"), _node("b", "b0"), _node("z", "z0")),
        (_job("q", 2, spread_zones=2, spread_group="web"),),
        running=((running, (("a", "a0"),)),),
    )
    built = build_problem(snap)
    assert built.problem is not None
    eligible = built.problem.node_sets[built.problem.job_nodes[0]]
    assert [f"{built.nodes[n].cluster}/{built.nodes[n].name}" for n in eligible] == ["b/b0"]
    assert _zones(built, _solve(built), 0) == {"hz-b"}


def test_anti_affinity_puts_each_replica_on_its_own_node() -> None:
    """Three replicas that one node could hold all land on three distinct nodes."""
    snap = _snapshot(
        (_cluster("a", "hz-a"),),
        tuple(_node("a", f"n{i}", cpu=8 * CPU) for i in range(3)),
        (_job("anti", 1, replicas=3, anti_affinity=True),),
    )
    built = build_problem(snap)
    solution = _solve(built)
    assert solution.assignment[0] is not None and len(set(solution.assignment[0])) == 3


def test_holds_say_which_zones_or_nodes_are_missing() -> None:
    """A lone queued job of a group short of 2 zones waits saying its group lacks replicas; a
    gang asking 3 zones where 2 have room says so naming them; an anti-affine gang of 3 with 2
    free nodes says ANTI_AFFINITY; a job without topology gets no hold."""
    blocker = _job("busy", 1)
    snap = _snapshot(
        (_cluster("a", "hz-a"), _cluster("k")),
        (
            _node("a", "a0"),
            _node("k", "k0", "hz-x"),
            _node("k", "k1", "hz-y"),
            _node("k", "k2", "hz-z", cpu=CPU),
        ),
        (
            _job("lone", 2, spread_zones=2, spread_group="web"),
            _job("gang", 3, replicas=3, spread_zones=3),
            _job("anti", 4, replicas=3, anti_affinity=True),
            _job("plain", 5),
        ),
        running=((blocker, (("k", "k2"),)),),
    )
    holds = Holds(snap)
    lone, gang, anti, plain = snap.queued
    code, message = holds.why(lone, reasons.OUTRANKED) or ("", "")
    assert code == reasons.SPREAD
    assert "spread group 'web' needs 2 zones" in message and "1 replica(s)" in message
    code, message = holds.why(gang, reasons.INSUFFICIENT_CAPACITY) or ("", "")
    assert code == reasons.SPREAD
    assert "3 zones of one cluster, only 2 zones (hz-x, hz-y) of k have room" in message
    code, message = holds.why(anti, reasons.GANG_INCOMPLETE) or ("", "")
    assert code == reasons.ANTI_AFFINITY and "only 2 node(s) of k have room" in message
    assert holds.why(plain, reasons.OUTRANKED) is None
    assert holds.why(gang, reasons.QUOTA_EXHAUSTED) is None
