"""Per-cluster verdicts count replicas by each node's free room, node by node (explain.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.domain import reasons
from scheduler.domain.models import Cluster, ClusterSpec, Job, JobSpec, Node
from scheduler.domain.states import ClusterState, JobState
from scheduler.service.explain import verdicts
from scheduler.service.snapshot import Snapshot

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _snapshot() -> Snapshot:
    clusters = tuple(
        Cluster(ClusterSpec(name, "hz", security_level=3), ClusterState.ACTIVE, NOW)
        for name in ("a", "b", "c")
    )
    nodes = (
        # a: 8 + 8 + 8 cores, 3, 5 and 3 used: room for 2 + 1 + 2 replicas of 2.5 cores.
        Node("b", "b0", {"cpu": 4000, "memory": 4096}, {}),
        Node("a", "a0", {"cpu": 8000, "memory": 4096}, {}),
        Node("a", "a1", {"cpu": 8000, "memory": 4096}, {}),
        Node("a", "a2", {"cpu": 8000, "memory": 4096}, {}),
        # c: no memory reported, so a replica asking for memory never fits.
        Node("c", "c0", {"cpu": 8000}, {}),
        Node("c", "c1", {"cpu": 8000}, {"disk": "ssd"}),
    )
    return Snapshot(
        now=NOW,
        clusters=clusters,
        states={c.name: ClusterState.ACTIVE for c in clusters},
        nodes=nodes,
        used={
            ("a", "a0"): {"cpu": 3000},
            ("a", "a1"): {"cpu": 5000, "memory": 100},
            ("a", "a2"): {"cpu": 3000},
        },
        queued=(),
    )


def _job(replicas: int, resources: dict[str, int]) -> Job:
    spec = JobSpec("x", ("true",), resources, replicas=replicas)
    return Job("j", "d", spec, JobState.QUEUED, NOW, NOW)


def test_room_is_counted_per_node_and_per_cluster() -> None:
    """Replicas fit by the floor of each node's free room per resource, summed per cluster."""
    snap = _snapshot()
    kinds = {name: [(k.node.name, k.count) for k in ks] for name, ks in snap.node_kinds.items()}
    # Alike in capacity, labels and use: a0 and a2; c1's labels set it apart from c0.
    assert kinds == {"a": [("a0", 2), ("a1", 1)], "b": [("b0", 1)], "c": [("c0", 1), ("c1", 1)]}
    by = {v.cluster: v for v in verdicts(snap, _job(6, {"cpu": 2500, "memory": 512}))}
    assert by["a"].reason == reasons.INSUFFICIENT_CAPACITY
    assert by["a"].message.startswith("room for 5 of 6 replicas now")
    assert by["b"].reason == reasons.GANG_INCOMPLETE  # 1 replica even when empty
    assert by["c"].reason == reasons.NO_FITTING_NODE
    assert "c0 is short memory=512Mi" in by["c"].message  # the first of the equally short
    assert verdicts(snap, _job(5, {"cpu": 2500, "memory": 512}))[0].reason == reasons.FITS
