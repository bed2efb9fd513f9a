"""When a quota triple last changed (the reclaim delay's start) in the store, on SQLite and
PostgreSQL, and migration 0007 on a database at 0006 that already holds quotas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from scheduler.domain.quotas import QuotaGroup, ResourceQuota
from scheduler.state import Store
from scheduler.state.migrate import upgrade

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=7)


def _changed(store: Store, department: str) -> dict[str, datetime | None]:
    with store.unit(write=False) as tx:
        return {q.resource: q.changed_at for g in tx.quotas.groups(department) for q in g.resources}


def test_a_changed_triple_is_stamped_and_an_unchanged_one_keeps_its_time(store: Store) -> None:
    """Setting the group again with cpu lowered and memory as it was stamps cpu with the new
    time and keeps memory's; the cycle's read (every_group) carries the same times."""
    with store.unit() as tx:
        tx.departments.create("交通局", "", NOW)
        both = QuotaGroup({}, (ResourceQuota("cpu", 8000), ResourceQuota("memory", 1024)))
        tx.quotas.replace("交通局", both, NOW)
    with store.unit() as tx:
        tx.quotas.replace(
            "交通局",
            QuotaGroup({}, (ResourceQuota("cpu", 4000, 0), ResourceQuota("memory", 1024))),
            LATER,
        )
    assert _changed(store, "交通局") == {"cpu": LATER, "memory": NOW}
    with store.unit(write=False) as tx:
        (group,) = tx.quotas.every_group()["交通局"]
    assert {q.resource: q.changed_at for q in group.resources} == {"cpu": LATER, "memory": NOW}
    # The time is no part of a quota's identity: the triple compares equal whenever it was set.
    assert group.resources[0] == ResourceQuota("cpu", 4000, 0)


def test_migration_0007_stamps_existing_quotas_with_the_upgrade_time(store_url: str) -> None:
    """A database at 0006 with a quota row upgrades: the row keeps its triple and counts as
    changed at the upgrade (so a quota already below its use gets a full delay), and a new
    SetQuota stamps rows as usual."""
    engine = sa.create_engine(store_url)
    upgrade(engine, "0006_fair_share")
    engine.dispose()
    store = Store(store_url, migrate=False)
    try:
        with store.engine.begin() as conn:
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
                    "borrowing_limit) VALUES ('d', '{}', 'cpu', 4000, 0)"
                )
            )
        before = datetime.now(UTC)
        upgrade(store.engine)
        after = datetime.now(UTC)
        with store.unit(write=False) as tx:
            ((quota,),) = [g.resources for g in tx.quotas.groups("d")]
        assert quota == ResourceQuota("cpu", 4000, 0)
        assert quota.changed_at is not None
        assert before - timedelta(seconds=1) <= quota.changed_at <= after + timedelta(seconds=1)
        with store.unit() as tx:
            tx.quotas.replace("d", QuotaGroup({}, (ResourceQuota("cpu", 2000, 0),)), LATER)
        assert _changed(store, "d") == {"cpu": LATER}
    finally:
        store.dispose()
