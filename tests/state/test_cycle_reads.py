"""The store's reads made for a cheap scheduling cycle, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from scheduler.domain.models import ClusterSpec, Run
from scheduler.domain.states import JobState, RunState
from scheduler.state import Store
from scheduler.state.run_records import Placement
from tests.state.test_store_contract import NOW, _job, _seed


def test_active_runs_as_placements_and_counts_per_cluster(store: Store) -> None:
    """Active runs read as placements equal the runs read whole; they are counted per cluster,
    and ended runs and clusters without any are absent."""
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
    with store.unit() as tx:
        assert tx.runs.transition("a0", RunState.RUNNING, started_at=NOW)
    with store.unit(write=False) as tx:
        placements = sorted(tx.runs.active_placements())
        assert placements == sorted(
            Placement(r.run_id, r.job_id, r.replica, r.cluster, r.node, r.state, r.started_at)
            for r in tx.runs.active()
        )
        assert [p.run_id for p in placements] == ["a0", "a1", "a2", "b1"]
        assert placements[0].started_at == NOW and placements[1].started_at is None
        counts = tx.runs.active_per_cluster()
        assert counts == {"gov-a": 3, "gov-b": 1}
        # The same answer as loading every active run of each cluster.
        for cluster in ("gov-a", "gov-b", "gov-c"):
            assert counts.get(cluster, 0) == len(tx.runs.active(cluster=cluster))


def test_get_many_known_equals_get_many_after_every_kind_of_write(store: Store) -> None:
    """Known jobs refreshed from their changing columns equal jobs read whole, after moves and
    reason changes; unknown ids are read whole and missing ones left out."""
    _seed(store)
    with store.unit() as tx:
        for i in range(4):
            tx.jobs.insert(_job(f"j{i}", client_id=f"c{i}"))
    with store.unit(write=False) as tx:
        known = tx.jobs.get_many(["j0", "j1", "j2"])
    with store.unit() as tx:
        tx.jobs.move(
            known["j0"],
            JobState.LEASED,
            reason="PLACED",
            message="placed on gov-a",
            now=NOW + timedelta(seconds=1),
            cluster="gov-a",
            attempt=1,
        )
        tx.jobs.set_reasons([(known["j1"], "OUTRANKED", "behind j0")], NOW)
    ids = ["j0", "j1", "j2", "j3", "missing"]
    with store.unit(write=False) as tx:
        fresh = tx.jobs.get_many_known(ids, known)
        assert fresh == tx.jobs.get_many(ids)
        assert sorted(fresh) == ["j0", "j1", "j2", "j3"]
        assert fresh["j0"].state is JobState.LEASED and fresh["j0"].attempt == 1
        assert fresh["j1"].message == "behind j0"
        assert fresh["j2"] is known["j2"]  # unchanged: the job read earlier, as it was


def test_queued_first_with_known_jobs_equals_the_whole_read(store: Store) -> None:
    """A cycle's queue read with the jobs an earlier cycle saw is the same list, in the same
    order, as the queue read whole: new jobs included, moved ones gone, new reasons and
    effective priorities seen (the order follows the new priorities)."""
    _seed(store)
    with store.unit() as tx:
        for i in range(5):
            tx.jobs.insert(_job(f"j{i}", client_id=f"c{i}"))
    with store.unit(write=False) as tx:
        known = {j.job_id: j for j in tx.jobs.queued_first(10)}
    with store.unit() as tx:
        tx.jobs.insert(_job("j5", client_id="c5"))
        tx.jobs.move(known["j0"], JobState.CANCELLED, reason="CANCELLED", message="x", now=NOW)
        tx.jobs.set_reasons([(known["j1"], "OUTRANKED", "behind j4")], NOW)
        tx.queue.set_effective({known["j4"].seq or 0: 900, known["j2"].seq or 0: 10})
    with store.unit(write=False) as tx:
        whole = tx.jobs.queued_first(10)
        assert tx.jobs.queued_first(10, known) == whole
        assert tx.jobs.queued_first(3, known) == whole[:3]
        assert [j.job_id for j in whole] == ["j4", "j2", "j1", "j3", "j5"]
        assert whole[2].message == "behind j4"


def test_job_ids_to_lock_name_the_reported_runs_and_the_clusters_active_ones(
    store: Store,
) -> None:
    """A Sync's lock set is the jobs of the runs it reports (ended or not, any cluster) and of
    the runs still active on its cluster; unknown run ids name nothing."""
    _seed(store)
    with store.unit() as tx:
        tx.clusters.create(ClusterSpec("gov-b", "hz", "hz-b", "gov", 3, False, {}), NOW)
        for name in ("j1", "j2", "j3", "j4"):
            tx.jobs.insert(_job(name, client_id=f"c-{name}"))
        tx.runs.insert(
            [
                Run("a0", "j1", 1, 0, "gov-a", "n0", RunState.RUNNING, NOW),
                Run("a1", "j2", 1, 0, "gov-a", "n1", RunState.SUCCEEDED, NOW),
                Run("b0", "j3", 1, 0, "gov-b", "n0", RunState.RUNNING, NOW),
                Run("b1", "j4", 1, 0, "gov-b", "n1", RunState.LEASED, NOW),
            ]
        )
    with store.unit(write=False) as tx:
        assert tx.runs.job_ids(["a1", "nope"], active_on="gov-a") == {"j1", "j2"}
        assert tx.runs.job_ids([], active_on="gov-b") == {"j3", "j4"}
        assert tx.runs.job_ids(["a0"], active_on="gov-c") == {"j1"}
