"""The objective terms of an ordered cluster preference (node_preference): per node type, a
replica costs more the later its cluster comes in the job's list, most where it is unnamed."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.domain.models import Cluster, ClusterSpec, Constraints, Job, JobSpec, Node
from scheduler.domain.states import ClusterState, JobState
from scheduler.service.node_preference import MAX_PREFERRED_SLOTS, node_preferences

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _job(job_id: str, *preferred: str) -> Job:
    spec = JobSpec(
        job_id, ("true",), {"cpu": 1000}, constraints=Constraints(preferred_clusters=preferred)
    )
    return Job(job_id, "d", spec, JobState.QUEUED, NOW, NOW)


def _clusters(*names: str) -> dict[str, Cluster]:
    return {n: Cluster(ClusterSpec(n, "hz"), ClusterState.ACTIVE, NOW) for n in names}


def test_costs_follow_the_order_of_the_list() -> None:
    """b first, a second, c unnamed: b's nodes keep the price, a's cost 2 units, c's 4; a job
    without a preference gets no override."""
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
    assert [cost[kinds[i]] for i in range(3)] == [2 * unit, None, 4 * unit]


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
