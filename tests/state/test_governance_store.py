"""The governance repositories (tree, quotas, priority classes) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler.domain.errors import AlreadyExists, NotFound
from scheduler.domain.models import Job, JobSpec
from scheduler.domain.quotas import PriorityClass, QuotaGroup, ResourceQuota
from scheduler.domain.states import JobState
from scheduler.state import Store

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _tree(store: Store) -> None:
    with store.unit() as tx:
        tx.departments.create("交通局", "Transport", NOW)
        tx.departments.create("交通局/信号处", "Signals", NOW, parent="交通局")
        tx.departments.create("交通局/信号处/一科", "", NOW, parent="交通局/信号处")
        tx.departments.create("交通局二", "", NOW)
        tx.departments.create("a_%", "", NOW)
        tx.departments.create("ab", "", NOW)


def test_departments_keep_their_parent_and_subtrees_follow_paths(store: Store) -> None:
    """The parent round-trips; a subtree is the path's descendants only, and LIKE wildcards
    in a name are literal."""
    _tree(store)
    with store.unit(write=False) as tx:
        assert tx.departments.get("交通局/信号处").parent == "交通局"
        assert tx.departments.get("交通局").parent == ""
        assert [d.name for d in tx.tree.subtree("交通局")] == [
            "交通局",
            "交通局/信号处",
            "交通局/信号处/一科",
        ]
        assert [d.name for d in tx.tree.subtree("a_%")] == ["a_%"]
        assert tx.tree.children("交通局") == ["交通局/信号处"]
    with pytest.raises(NotFound) as err, store.unit(write=False) as tx:
        tx.departments.get("nope")
    assert err.value.field == "name"


def test_quota_groups_are_replaced_whole_and_keyed_by_selector(store: Store) -> None:
    """Setting a group replaces exactly that group's rows; optional limits stay None; an
    empty group removes it; nominal per department reads one group."""
    _tree(store)
    whole = QuotaGroup({}, (ResourceQuota("cpu", 64000), ResourceQuota("memory", 262144)))
    xc = QuotaGroup({"xinchuang": "true"}, (ResourceQuota("cpu", 32000, 8000, 16000),))
    with store.unit() as tx:
        tx.quotas.replace("交通局", whole, NOW)
        tx.quotas.replace("交通局", xc, NOW)
        tx.quotas.replace("交通局/信号处", QuotaGroup({}, (ResourceQuota("cpu", 1000),)), NOW)
    with store.unit() as tx:
        tx.quotas.replace("交通局", QuotaGroup({}, (ResourceQuota("cpu", 48000, 0, None),)), NOW)
    with store.unit(write=False) as tx:
        groups = tx.quotas.groups("交通局")
        assert [(g.selector, g.resources) for g in groups] == [
            ({}, (ResourceQuota("cpu", 48000, 0, None),)),
            ({"xinchuang": "true"}, (ResourceQuota("cpu", 32000, 8000, 16000),)),
        ]
        assert tx.quotas.nominal(["交通局", "交通局/信号处", "交通局二"], {}) == {
            "交通局": {"cpu": 48000},
            "交通局/信号处": {"cpu": 1000},
        }
    with store.unit() as tx:
        tx.quotas.replace("交通局", QuotaGroup({"xinchuang": "true"}, ()), NOW)
    with store.unit(write=False) as tx:
        assert [g.selector for g in tx.quotas.groups("交通局")] == [{}]


def test_waiting_and_refused_jobs_hold_nothing(store: Store) -> None:
    """QUEUED and REJECTED jobs are not counted as holding resources (LEASED and RUNNING ones
    are, reached through the real cycle in tests/service/test_governance.py)."""
    _tree(store)
    with store.unit() as tx:
        for i, state in enumerate([JobState.QUEUED, JobState.REJECTED]):
            spec = JobSpec(f"c{i}", ("true",), {"cpu": 1000})
            tx.jobs.insert(Job(f"job-{i}", "交通局", spec, state, NOW, NOW))
    with store.unit(write=False) as tx:
        assert tx.tree.holding_jobs("交通局") == []


def test_priority_classes_and_department_allowances(store: Store) -> None:
    """Classes round-trip and are unique; a department's allowed list round-trips; a job
    keeps the class it named."""
    _tree(store)
    urgent = PriorityClass("urgent", 900, False, True, "应急")
    with store.unit() as tx:
        made = tx.priority_classes.create(urgent, NOW)
        tx.priority_classes.create(PriorityClass("batch", 10, True, False), NOW)
        tx.tree.set_priority_classes("交通局", ["batch", "urgent"])
        spec = JobSpec("c", ("true",), {"cpu": 1}, priority=900, priority_class="urgent")
        tx.jobs.insert(Job("job-u", "交通局", spec, JobState.QUEUED, NOW, NOW))
    assert made.created_at == NOW
    with store.unit(write=False) as tx:
        assert [pc.name for pc in tx.priority_classes.all()] == ["batch", "urgent"]
        assert tx.priority_classes.get("urgent") == made
        assert tx.priority_classes.get("none") is None
        assert tx.departments.get("交通局").priority_classes == ("batch", "urgent")
        assert tx.jobs.get("job-u").spec.priority_class == "urgent"
    with pytest.raises(AlreadyExists) as err, store.unit() as tx:
        tx.priority_classes.create(urgent, NOW)
    assert err.value.field == "name"
