"""JobSpec.topology in the store: migration 0014 gives older jobs no topology, and a job's
topology reads back as written, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from scheduler.domain.models import Job, JobSpec, Topology
from scheduler.domain.states import JobState
from scheduler.state import Store
from scheduler.state.migrate import upgrade

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_migration_0014_leaves_older_jobs_without_topology_and_new_ones_round_trip(
    store_url: str,
) -> None:
    """A job row written at 0012 reads back with the unset topology after the upgrade; a job
    with spread, anti-affinity and a group reads back with exactly those."""
    engine = sa.create_engine(store_url)
    upgrade(engine, "0012_gpu_shares")
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
                "INSERT INTO job (job_id, department, client_id, job_set, name, priority, "
                "priority_class, replicas, resources, command, env, max_runtime_seconds, "
                "constraints, labels, image, spec_digest, state, attempt, cluster, reason, "
                "message, created_at, updated_at, max_attempts, retry) VALUES ('old', 'd', "
                "'old', 'default', '', 0, '', 1, '{\"cpu\": 1000}', '[\"true\"]', '{}', 0, "
                "'{}', '{}', '', '', 'QUEUED', 0, '', '', '', :t, :t, 0, '{}')"
            ),
            {"t": NOW},
        )
    engine.dispose()
    store = Store(store_url)  # migrates to the head
    try:
        topology = Topology(spread_zones=3, anti_affinity=True, spread_group="web")
        spec = JobSpec(
            client_id="new", command=("true",), resources={"cpu": 1000}, topology=topology
        )
        with store.unit() as tx:
            assert tx.jobs.get("old").spec.topology == Topology()
            tx.jobs.insert(Job("new", "d", spec, JobState.QUEUED, NOW, NOW))
        with store.unit(write=False) as tx:
            assert tx.jobs.get("new").spec.topology == topology
    finally:
        store.dispose()
