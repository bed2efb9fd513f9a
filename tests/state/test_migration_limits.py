"""Migration 0003 (spec digest, agent error) on a database that already holds data (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from scheduler.domain.models import JobSpec
from scheduler.domain.validation import spec_digest
from scheduler.service.clock import ManualClock
from scheduler.service.jobs import JobsService
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store
from scheduler.state.migrate import upgrade

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _old_rows(url: str) -> None:
    """A department, a cluster and a job written by the 0001 schema."""
    engine = sa.create_engine(url)
    upgrade(engine, "0001")
    department = sa.table(
        "department", *(sa.column(c) for c in ("name", "display_name", "token_hash", "created_at"))
    )
    cluster = sa.table(
        "cluster",
        *(sa.column(c) for c in ("name", "region", "zone", "provider", "security_level")),
        *(sa.column(c) for c in ("xinchuang", "state", "token_hash", "created_at", "agent_id")),
        sa.column("price", sa.JSON),
        sa.column("labels", sa.JSON),
    )
    job = sa.table(
        "job",
        *(sa.column(c) for c in ("job_id", "department", "client_id", "job_set", "name")),
        *(sa.column(c) for c in ("priority", "replicas", "max_runtime_seconds", "state")),
        *(sa.column(c) for c in ("attempt", "cluster", "reason", "message")),
        *(sa.column(c) for c in ("created_at", "updated_at")),
        *(sa.column(c, sa.JSON) for c in ("resources", "command", "env", "constraints", "labels")),
    )
    with engine.begin() as conn:
        conn.execute(
            department.insert().values(name="d", display_name="d", token_hash="h", created_at=NOW)
        )
        conn.execute(
            cluster.insert().values(
                name="c", region="hz", zone="", provider="", security_level=2, xinchuang=False,
                state="ACTIVE", token_hash="t", created_at=NOW, agent_id="", price={}, labels={},
            )
        )  # fmt: skip
        conn.execute(
            job.insert().values(
                job_id="j1", department="d", client_id="old", job_set="default", name="",
                priority=0, replicas=1, max_runtime_seconds=0, state="QUEUED", attempt=0,
                cluster="", reason="", message="", created_at=NOW, updated_at=NOW,
                resources={"cpu": 1000}, command=["true"], env={}, constraints={}, labels={},
            )
        )  # fmt: skip
    engine.dispose()


def test_upgrade_keeps_old_jobs_and_clusters_and_dedups_them_by_their_spec(
    store_url: str,
) -> None:
    """After the upgrade the old job has no stored digest and the cluster no agent error; a
    resubmit of the same spec is still a duplicate, another spec under its client_id refused."""
    _old_rows(store_url)
    store = Store(store_url)
    try:
        with store.unit(write=False) as tx:
            old = tx.jobs.get("j1")
            assert old.spec_digest == "" and tx.clusters.get("c").agent_error == ""
        jobs = JobsService(store, ManualClock(NOW), SchedulerSettings())
        same = JobSpec(client_id="old", command=("true",), resources={"cpu": 1000})
        assert spec_digest(same) == spec_digest(old.spec)
        [again] = jobs.submit("d", [same])
        [other] = jobs.submit(
            "d", [JobSpec(client_id="old", command=("false",), resources={"cpu": 1})]
        )
        assert again.duplicate and again.job_id == "j1"
        assert other.error is not None and other.error.field == "client_id"
    finally:
        store.dispose()
