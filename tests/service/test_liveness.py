"""An agent that keeps calling is never declared lost, and records never disagree after races."""

from __future__ import annotations

import threading
import time

from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.service.agent_sync import RunReport
from tests.service.conftest import Pool, node, spec


def _running_job(pool: Pool) -> tuple[str, list[str]]:
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x"))
    pool.cycle.run_once()
    runs = [lease.run.run_id for lease in pool.sync("a").start]
    pool.sync("a", [RunReport(r, RunState.RUNNING) for r in runs])
    return job_id, runs


def test_sync_heard_but_not_committed_keeps_the_cluster_alive(pool: Pool) -> None:
    """A Sync that reached the server but waits for the database still counts as a heartbeat."""
    job_id, runs = _running_job(pool)
    pool.clock.advance(pool.settings.lease_timeout_s + 5)
    # What AgentSyncService.sync does first, before its transaction can start.
    pool.liveness.heard("a", pool.clock.now())
    assert pool.cycle.run_once().requeued == 0
    assert pool.admin.get_cluster("a").state is ClusterState.ACTIVE
    with pool.store.unit(write=False) as tx:
        assert tx.runs.get_many(runs)[runs[0]].state is RunState.RUNNING
    assert pool.jobs.get("公安局", job_id).job.state is JobState.RUNNING


def test_silent_cluster_is_lost_with_a_message_saying_since_when(pool: Pool) -> None:
    """Silence past the lease timeout loses the runs, and the message says how long it lasted."""
    job_id, runs = _running_job(pool)
    pool.clock.advance(pool.settings.lease_timeout_s + 5)
    assert pool.cycle.run_once().requeued == 1
    with pool.store.unit(write=False) as tx:
        run = tx.runs.get_many(runs)[runs[0]]
    assert run.state is RunState.LOST
    assert "no sync from its agent for 15s since its last sync" in run.message
    assert pool.jobs.get("公安局", job_id).job.state is JobState.QUEUED


def test_heartbeat_committed_during_the_reap_wins(pool: Pool) -> None:
    """A Sync that commits while the reaper decides makes the reaper stand down (no LOST)."""
    job_id, runs = _running_job(pool)
    pool.clock.advance(pool.settings.lease_timeout_s + 5)
    holding = threading.Event()
    release = threading.Event()

    def concurrent_sync() -> None:
        # The heartbeat row is written and held, uncommitted, while the reaper runs.
        with pool.store.unit() as tx:
            tx.clusters.heartbeat("a", pool.clock.now(), "agent-a")
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=concurrent_sync)
    writer.start()
    assert holding.wait(10)
    result: list[int] = []
    reaper = threading.Thread(target=lambda: result.append(pool.cycle.run_once().requeued))
    reaper.start()
    # No event tells us the reaper is blocked on the row lock; give it time to get there. The
    # outcome must be the same either way; only the power of the test depends on this pause.
    time.sleep(0.3)
    release.set()
    writer.join(10)
    reaper.join(30)
    assert result == [0]
    with pool.store.unit(write=False) as tx:
        assert tx.runs.get_many(runs)[runs[0]].state is RunState.RUNNING
    assert pool.jobs.get("公安局", job_id).job.state is JobState.RUNNING


def test_stale_reaper_cannot_overwrite_a_finished_run(pool: Pool) -> None:
    """A run that finished after another writer read it stays finished: transitions are
    conditional on the state the writer saw."""
    _, runs = _running_job(pool)
    with pool.store.unit(write=False) as tx:
        seen = tx.runs.get_many(runs)[runs[0]]
    pool.sync("a", [RunReport(runs[0], RunState.SUCCEEDED, 0)])
    with pool.store.unit() as tx:
        moved = tx.runs.transition(
            runs[0], RunState.LOST, expected=[seen.state], message="cluster lost"
        )
    assert moved is False
    with pool.store.unit(write=False) as tx:
        run = tx.runs.get_many(runs)[runs[0]]
    assert run.state is RunState.SUCCEEDED and run.exit_code == 0 and run.message == ""
