"""`department get` for a quota lowered below its use: since when it is over and when its
excess is preempted, from the domain status through the API conversion to the CLI text."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.api.convert_governance import status_to_proto
from scheduler.cli.governance import department_detail
from scheduler.domain.quotas import DepartmentStatus, GroupUsage, QuotaUsage, ResourceQuota

CHANGED = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


@pytest.fixture
def utc_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time zone UTC for the test, restored afterwards."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _status(used: int) -> DepartmentStatus:
    quota = ResourceQuota("cpu", 4000, 0, None, CHANGED)
    reclaim_at = CHANGED + timedelta(minutes=10) if used > 4000 else None
    usage = QuotaUsage("cpu", quota, used, 0, reclaim_at)
    return DepartmentStatus("公安局", "", "", CHANGED, (), (GroupUsage({}, (usage,)),))


def test_an_over_limit_quota_says_since_when_and_when_it_is_reclaimed(utc_time: None) -> None:
    """12 cores used of 4 + 0: the reply carries changed_at, over_limit and reclaim_at, and the
    text names the excess, the change and the start of the reclaim."""
    reply = status_to_proto(_status(12000))
    [cpu] = reply.quotas[0].resources
    assert cpu.over_limit == 8000
    assert cpu.changed_at.ToDatetime(UTC) == CHANGED
    assert cpu.reclaim_at.ToDatetime(UTC) == CHANGED + timedelta(minutes=10)
    assert department_detail(reply).splitlines()[-1] == (
        "pool cpu: 8 over nominal + borrowing limit since 2026-12-03 00:00:00 (lowered below "
        "its use); the excess is preempted from 2026-12-03 00:10:00"
    )


def test_a_quota_within_its_limit_says_nothing_more(utc_time: None) -> None:
    """4 cores used of 4 + 0: over_limit 0, no reclaim_at, no extra line."""
    reply = status_to_proto(_status(4000))
    [cpu] = reply.quotas[0].resources
    assert cpu.over_limit == 0 and not cpu.HasField("reclaim_at")
    assert "over nominal" not in department_detail(reply)
