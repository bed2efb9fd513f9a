"""Snapshot -> Problem for taints, cluster affinity and an ordered cluster preference: node
sets per job, and the objective terms of the preference (node_preference): per node type, a
replica costs more the later its cluster comes in the job's list, most where it is unnamed."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.domain.models import Cluster, ClusterSpec, Constraints, Job, JobSpec, Node
from scheduler.domain.states import ClusterState, JobState
from scheduler.domain.taints import EXISTS, Taint, Toleration
from scheduler.placement import EngineParams, solve
from scheduler.service.node_preference import MAX_PREFERRED_SLOTS, node_preferences
from scheduler.service.problem_builder import build_problem
from scheduler.service.snapshot import Snapshot

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _job(job_id: str, *preferred: str) -> Job:
    spec = JobSpec(
        job_id, ("true",), {"cpu": 1000}, constraints=Constraints(preferred_clusters=preferred)
    )
    return Job(job_id, "d", spec, JobState.QUEUED, NOW, NOW)


def _clusters(*names: str) -> dict[str, Cluster]:
    return {n: Cluster(ClusterSpec(n, "hz"), ClusterState.ACTIVE, NOW) for n in names}


def test_costs_follow_the_order_of_the_list() -> None:
    """b first, a second, c unnamed: b's nodes keep the price, a's cost 2 units more than its
    price, c's 4 more than its own; a job without a preference gets no override."""
    nodes = [Node(c, "n", {"cpu": 4000}) for c in ("a", "b", "c")]
    jobs = [_job("p", "b", "a"), _job("plain")]
    group_cost = ((10,), (20,), (1,))
    kinds, overrides = node_preferences(
        jobs, nodes, _clusters("a", "b", "c"), group_cost, ((1000,), (1000,)), {}, False
    )
    unit = 1 + 1000 * 20
    cost = {kinds[i]: None for i in range(3)}
    for o in overrides:
        assert o.job == 0
        cost[o.node_type] = o.cost
    assert [cost[kinds[i]] for i in range(3)] == [2 * unit + 10_000, None, 4 * unit + 1000]


def test_preferences_beyond_the_slot_limit_count_as_unnamed() -> None:
    """Only MAX_PREFERRED_SLOTS clusters get a node type of their own per cycle; a cluster
    named after them shares the unnamed clusters' type (the preference degrades, no error)."""
    names = [f"c{i}" for i in range(MAX_PREFERRED_SLOTS + 2)]
    nodes = [Node(c, "n", {"cpu": 4000}) for c in names]
    jobs = [_job(f"j{i}", names[i]) for i in range(len(names))]
    kinds, _ = node_preferences(
        jobs,
        nodes,
        _clusters(*names),
        tuple((1,) for _ in names),
        tuple((1000,) for _ in jobs),
        {},
        False,
    )
    assert len(set(kinds)) == MAX_PREFERRED_SLOTS + 1
    assert kinds[-1] == kinds[-2] == 0


def test_the_builder_gives_each_job_the_nodes_its_taints_and_affinity_allow() -> None:
    """One job per rule: an untolerating job's node set leaves out the tainted node, a
    tolerating one has both, one confined to cluster b has only b's node; a preferring job's
    overrides reach the problem and the solver puts it on its preferred, dearer cluster."""
    a = Cluster(ClusterSpec("a", "hz", price={"cpu": 0.01}), ClusterState.ACTIVE, NOW)
    b = Cluster(ClusterSpec("b", "hz", price={"cpu": 1.0}), ClusterState.ACTIVE, NOW)
    nodes = (
        Node("a", "tainted", {"cpu": 4000}, {}, (Taint("dedicated", "ai", "NoSchedule"),)),
        Node("b", "plain", {"cpu": 4000}),
    )

    def job(job_id: str, seq: int, **constraints: object) -> Job:
        c = Constraints(**constraints)  # type: ignore[arg-type]
        spec = JobSpec(job_id, ("true",), {"cpu": 1000}, constraints=c)
        return Job(job_id, "d", spec, JobState.QUEUED, NOW, NOW, seq=seq)

    jobs = (
        job("plain", 1),
        job("tolerating", 2, tolerations=(Toleration("dedicated", EXISTS),)),
        job("confined", 3, clusters=("b",), tolerations=(Toleration("dedicated", EXISTS),)),
        job("prefers", 4, preferred_clusters=("b",), tolerations=(Toleration("", EXISTS),)),
    )
    snap = Snapshot(
        now=NOW,
        clusters=(a, b),
        states={"a": ClusterState.ACTIVE, "b": ClusterState.ACTIVE},
        nodes=nodes,
        used={},
        queued=jobs,
    )
    built = build_problem(snap)
    problem = built.problem
    assert problem is not None
    sets = [problem.node_sets[problem.job_nodes[j]] for j in range(4)]
    assert sets[:3] == [(1,), (0, 1), (1,)]
    assert {o.job for o in problem.overrides} == {3}
    solution = solve(problem, params=EngineParams(time_limit_s=1.0)).solution
    assert solution is not None and solution.assignment[3] == (1,)
    assert solution.assignment[1] == (0,)  # the cheap tainted node, which it tolerates
