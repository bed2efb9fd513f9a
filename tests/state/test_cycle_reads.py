"""The store's reads made for a cheap scheduling cycle, on SQLite and PostgreSQL."""

from __future__ import annotations

from scheduler.domain.models import ClusterSpec, Run
from scheduler.domain.states import RunState
from scheduler.state import Store
from tests.state.test_store_contract import NOW, _job, _seed


def test_active_per_cluster_counts_only_active_runs(store: Store) -> None:
    """Active runs are counted per cluster; ended runs and clusters without any are absent."""
    _seed(store)
    with store.unit() as tx:
        tx.clusters.create(ClusterSpec("gov-b", "hz", "hz-b", "gov", 3, False, {}), NOW)
        tx.clusters.create(ClusterSpec("gov-c", "hz", "hz-c", "gov", 3, False, {}), NOW)
        tx.jobs.insert(_job("j1"))
        tx.jobs.insert(_job("j2", client_id="c2"))
        tx.runs.insert(
            [
                Run("a0", "j1", 1, 0, "gov-a", "n0", RunState.RUNNING, NOW),
                Run("a1", "j1", 1, 1, "gov-a", "n1", RunState.LEASED, NOW),
                Run("a2", "j2", 1, 0, "gov-a", "n2", RunState.STOPPING, NOW),
                Run("b0", "j2", 1, 0, "gov-b", "n0", RunState.SUCCEEDED, NOW),
                Run("b1", "j2", 2, 0, "gov-b", "n0", RunState.PENDING, NOW),
                Run("c0", "j2", 1, 0, "gov-c", "n0", RunState.LOST, NOW),
            ]
        )
    with store.unit(write=False) as tx:
        counts = tx.runs.active_per_cluster()
        assert counts == {"gov-a": 3, "gov-b": 1}
        # The same answer as loading every active run of each cluster.
        for cluster in ("gov-a", "gov-b", "gov-c"):
            assert counts.get(cluster, 0) == len(tx.runs.active(cluster=cluster))
