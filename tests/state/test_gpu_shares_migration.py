"""Migration 0012: stored device quantities become thousandths of a device, on SQLite and
PostgreSQL, and run rows gain their device ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from scheduler.domain.models import ClusterSpec, Job, JobSpec, Run
from scheduler.domain.states import JobState, RunState
from scheduler.domain.validation import spec_digest
from scheduler.state import Store
from scheduler.state.mapping import job_to_row
from scheduler.state.migrate import upgrade
from scheduler.state.tables import JobRow

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
GPU = "nvidia.com/gpu"


def test_migration_0012_scales_jobs_nodes_and_quotas_and_keeps_digests(store_url: str) -> None:
    """A database at 0011 holding a 2-GPU job, a 4-GPU node, a CPU-only job and a GPU quota
    upgrades to 2000, 4000 and a nominal of 8000 thousandths; cpu stays as it was; the job's
    spec digest is the one recorded before (a resubmit of its client_id is the same job); a run
    row stores device ids after it."""
    engine = sa.create_engine(store_url)
    upgrade(engine, "0011_job_retry")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO department (name, display_name, created_at, parent, "
                "priority_classes, fair_share_weight) VALUES ('d', 'd', :t, '', '[]', 1)"
            ),
            {"t": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO quota (department, cluster_selector, resource, nominal, "
                "borrowing_limit, changed_at) VALUES ('d', '{}', :gpu, 8, 2, :t), "
                "('d', '{}', 'cpu', 4000, NULL, :t)"
            ),
            {"gpu": GPU, "t": NOW},
        )
    engine.dispose()
    store = Store(store_url, migrate=False)
    try:
        with store.unit() as tx:
            tx.clusters.create(ClusterSpec(name="c", region="hz"), NOW)
        with store.engine.begin() as conn:  # SQL: the node model has columns added after 0011
            conn.execute(
                sa.text(
                    "INSERT INTO node (cluster, name, capacity, labels, updated_at) "
                    "VALUES ('c', 'n', :capacity, '{}', :t)"
                ),
                {"capacity": json.dumps({"cpu": 8000, GPU: 4}), "t": NOW},
            )
        for job_id, resources in (("g", {"cpu": 1000, GPU: 2}), ("p", {"cpu": 1000})):
            spec = JobSpec(client_id=job_id, command=("true",), resources=resources)
            _insert_job(store.engine, Job(job_id, "d", spec, JobState.QUEUED, NOW, NOW))
        upgrade(store.engine)
        with store.unit(write=False) as tx:
            migrated = tx.jobs.get("g").spec
            assert dict(migrated.resources) == {"cpu": 1000, GPU: 2000}
            before = JobSpec(client_id="g", command=("true",), resources={"cpu": 1000, GPU: 2})
            assert spec_digest(migrated) == spec_digest(before)
            assert dict(tx.jobs.get("p").spec.resources) == {"cpu": 1000}
            assert dict(tx.clusters.nodes("c")[0].capacity) == {"cpu": 8000, GPU: 4000}
            [group] = tx.quotas.groups("d")
            quotas = {q.resource: (q.nominal, q.borrowing_limit) for q in group.resources}
            assert quotas == {GPU: (8000, 2000), "cpu": (4000, None)}
        with store.unit() as tx:
            tx.runs.insert([Run("r", "g", 1, 0, "c", "n", RunState.LEASED, NOW, devices=(1, 3))])
        with store.unit(write=False) as tx:
            assert tx.runs.for_job("g")[0].devices == (1, 3)
            assert [p.devices for p in tx.runs.active_placements()] == [(1, 3)]
    finally:
        store.dispose()


def _insert_job(engine: sa.Engine, job: Job) -> None:
    """Inserts a job row with the columns the database's (older) schema has: the ORM would
    write columns later migrations add."""
    present = {c["name"] for c in sa.inspect(engine).get_columns("job")}
    row = job_to_row(job)
    values = {
        c.name: getattr(row, c.name)
        for c in JobRow.__table__.columns  # type: ignore[attr-defined]
        if c.name in present and c.name != "seq"
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(JobRow.__table__).values(**values))  # type: ignore[attr-defined]
