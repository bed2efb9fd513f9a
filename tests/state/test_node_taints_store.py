"""Node taints and a job's tolerations and cluster lists in the store, on SQLite and
PostgreSQL (the `store` fixture runs both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from scheduler.domain.models import ClusterSpec, Constraints, Job, JobSpec, Node
from scheduler.domain.states import JobState
from scheduler.domain.taints import EXISTS, Taint, Toleration
from scheduler.state import Store
from scheduler.state.migrate import upgrade

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
TAINTS = (Taint("dedicated", "gpu", "NoSchedule"), Taint("spot", "", "PreferNoSchedule"))


def test_node_taints_round_trip_and_a_changed_taint_is_a_change(store: Store) -> None:
    """Stored taints read back equal; replacing a node whose taints alone changed reports a
    change, the same taints again none."""
    with store.unit() as tx:
        tx.clusters.create(ClusterSpec("a", "hz"), NOW)
        assert tx.clusters.replace_nodes("a", [Node("a", "n0", {"cpu": 1000}, {}, TAINTS)], NOW)
    with store.unit() as tx:
        assert tx.clusters.nodes("a") == [Node("a", "n0", {"cpu": 1000}, {}, TAINTS)]
        later = NOW + timedelta(seconds=1)
        assert not tx.clusters.replace_nodes(
            "a", [Node("a", "n0", {"cpu": 1000}, {}, TAINTS)], later
        )
        assert tx.clusters.replace_nodes("a", [Node("a", "n0", {"cpu": 1000}, {}, ())], later)
    with store.unit(write=False) as tx:
        assert tx.clusters.nodes("a")[0].taints == ()


def test_tolerations_and_cluster_lists_round_trip(store: Store) -> None:
    """A job's tolerations, cluster affinity (names and labels) and preference read back as
    submitted."""
    constraints = Constraints(
        tolerations=(Toleration("dedicated", "Equal", "gpu", "NoSchedule"), Toleration("", EXISTS)),
        clusters=("a", "b"),
        preferred_clusters=("b", "a"),
        cluster_selector={"owner": "交通局"},
    )
    spec = JobSpec("c1", ("true",), {"cpu": 500}, constraints=constraints)
    with store.unit() as tx:
        tx.departments.create("交通局", "", NOW)
        tx.jobs.insert(Job("j1", "交通局", spec, JobState.QUEUED, NOW, NOW))
    with store.unit(write=False) as tx:
        job = tx.jobs.get("j1")
    assert job is not None and job.spec.constraints == constraints


def test_migration_0013_gives_existing_nodes_no_taints(store_url: str) -> None:
    """A node stored at 0012 (no taints column) reads back untainted after the upgrade."""
    engine = sa.create_engine(store_url)
    upgrade(engine, "0012_gpu_shares")
    engine.dispose()
    store = Store(store_url, migrate=False)
    try:
        with store.unit() as tx:  # the cluster table is as it was at 0012
            tx.clusters.create(ClusterSpec("c", "hz"), NOW)
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO node (cluster, name, capacity, labels, updated_at) "
                    "VALUES ('c', 'n', '{\"cpu\": 1000}', '{}', :t)"
                ),
                {"t": NOW},
            )
        upgrade(store.engine)
        with store.unit(write=False) as tx:
            assert tx.clusters.nodes("c") == [Node("c", "n", {"cpu": 1000}, {}, ())]
    finally:
        store.dispose()
