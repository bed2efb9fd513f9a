"""Fair-share weights, decayed usage and effective priorities in the store (SQLite and
PostgreSQL), and migration 0006 on a database that already holds a department and a job."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from scheduler.domain.models import Job, JobSpec
from scheduler.domain.states import JobState
from scheduler.state import Store
from scheduler.state.migrate import upgrade

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _jobs(store: Store, *specs: JobSpec, department: str = "d") -> list[str]:
    """Queued jobs, inserted as the submit does once a job is accepted."""
    with store.unit() as tx:
        return [
            tx.jobs.insert(Job(s.client_id, department, s, JobState.QUEUED, NOW, NOW)).job_id
            for s in specs
        ]


def _spec(client_id: str) -> JobSpec:
    return JobSpec(client_id=client_id, command=("true",), resources={"cpu": 1000})


def test_weights_and_decayed_usage_roundtrip(store: Store) -> None:
    """A weight set is read back on the department; usage is saved and overwritten per
    department with its time."""
    with store.unit() as tx:
        tx.departments.create("d", "", NOW)
        tx.departments.create("e", "", NOW)
        assert tx.fair_share.set_weight("d", 7).fair_share_weight == 7
        tx.fair_share.save({"d": 1.5, "e": 0.0}, NOW)
    with store.unit() as tx:
        assert tx.departments.get("d").fair_share_weight == 7
        assert tx.departments.get("e").fair_share_weight == 1
        tx.fair_share.save({"d": 2.25}, NOW + timedelta(seconds=1))
    with store.unit(write=False) as tx:
        assert tx.fair_share.usage() == {
            "d": (2.25, NOW + timedelta(seconds=1)),
            "e": (0.0, NOW),
        }


def test_positions_count_higher_priority_then_older_queued_jobs(store: Store) -> None:
    """Effective priorities are written for queued jobs only; positions count the queued jobs
    ahead in the department and in the pool; an unranked job has none."""
    with store.unit() as tx:
        tx.departments.create("d", "", NOW)
        tx.departments.create("e", "", NOW)
    a, b = _jobs(store, _spec("a"), _spec("b"))
    (c,) = _jobs(store, _spec("c"), department="e")
    (unranked,) = _jobs(store, _spec("u"))
    with store.unit() as tx:
        seq = {j: tx.jobs.get(j).seq for j in (a, b, c)}
        tx.queue.set_effective({seq[a]: 100, seq[b]: 600, seq[c]: 100})
    with store.unit(write=False) as tx:
        got = {j: tx.queue.positions(tx.jobs.get(j)) for j in (a, b, c, unranked)}
    assert got == {b: (1, 1), a: (2, 2), c: (1, 3), unranked: (0, 0)}


def test_migration_0006_keeps_departments_and_jobs(store_url: str) -> None:
    """A database at 0005 with a department and a queued job upgrades: weight 1, no
    effective priority yet, no usage."""
    engine = sa.create_engine(store_url)
    upgrade(engine, "0005_preemption")
    engine.dispose()
    store = Store(store_url, migrate=False)
    try:
        # Rows written through the 0005 columns only.
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO department (name, display_name, created_at, parent, "
                    "priority_classes) VALUES ('d', 'd', :t, '', '[]')"
                ),
                {"t": NOW},
            )
        upgrade(store.engine)
        (job_id,) = _jobs(store, _spec("x"))
        with store.unit(write=False) as tx:
            assert tx.departments.get("d").fair_share_weight == 1
            assert tx.jobs.get(job_id).effective_priority is None
            assert tx.fair_share.usage() == {}
    finally:
        store.dispose()


def test_the_cycle_considers_jobs_by_effective_priority_then_bare_priority(store: Store) -> None:
    """Ranked jobs sort by their effective priority, unranked ones by their bare priority on
    the same scale, then by age: a guaranteed priority-0 job (600) comes before a borrowing
    priority-900 one (460) and a new priority-500 one."""
    with store.unit() as tx:
        tx.departments.create("d", "", NOW)
    guaranteed, borrowing = _jobs(store, _spec("g"), replace(_spec("b"), priority=900))
    (new,) = _jobs(store, replace(_spec("n"), priority=500))
    with store.unit() as tx:
        seq = {j: tx.jobs.get(j).seq for j in (guaranteed, borrowing)}
        tx.queue.set_effective({seq[guaranteed]: 600, seq[borrowing]: 460})
    with store.unit(write=False) as tx:
        assert [j.job_id for j in tx.jobs.queued_first(10)] == [guaranteed, new, borrowing]
