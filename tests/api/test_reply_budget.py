"""Every Sync reply stays within its byte budget and lease cap; what is left says `more`."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.api.budget import DEFAULT_MAX_MESSAGE_BYTES, Budget, reply_budget
from scheduler.api.convert_agent import MAX_LEASES_PER_SYNC, sync_reply_to_proto
from scheduler.domain.models import Job, JobSpec, Run
from scheduler.domain.states import JobState, RunState
from scheduler.service.agent_sync import Lease, SyncReply

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _lease(i: int, arg_bytes: int) -> Lease:
    spec = JobSpec(client_id=f"c{i}", command=("true", "a" * arg_bytes), resources={"cpu": 100})
    job = Job(f"job-{i}", "公安局", spec, JobState.LEASED, NOW, NOW, attempt=1)
    return Lease(Run(f"run-{i}", job.job_id, 1, 0, "a", "n", RunState.LEASED, NOW), job)


def _reply(leases: list[Lease], cancel: int = 0) -> SyncReply:
    return SyncReply("a", tuple(leases), tuple(f"c-{i}" for i in range(cancel)), (), 1.0, 30.0)


def test_large_leases_are_split_over_replies_within_half_the_max_message() -> None:
    """140 leases of 64 KB: each reply holds as many as fit half of 8 MiB and says `more`."""
    budget = reply_budget(DEFAULT_MAX_MESSAGE_BYTES)
    msg = sync_reply_to_proto(_reply([_lease(i, 64_000) for i in range(140)]), Budget(budget))
    assert msg.more and 0 < len(msg.start) < 140
    assert msg.ByteSize() <= DEFAULT_MAX_MESSAGE_BYTES // 2
    assert [lease.run_id for lease in msg.start] == [f"run-{i}" for i in range(len(msg.start))]


def test_many_small_leases_are_capped_by_count() -> None:
    """Small leases stop at 500 per reply; cancels come first and are all in."""
    msg = sync_reply_to_proto(_reply([_lease(i, 1) for i in range(600)], cancel=10), Budget(2**30))
    assert len(msg.start) == MAX_LEASES_PER_SYNC and msg.more and len(msg.cancel) == 10


def test_a_reply_that_fits_says_no_more() -> None:
    """Everything fits: `more` is false."""
    msg = sync_reply_to_proto(_reply([_lease(i, 10) for i in range(3)]), Budget(10_000))
    assert len(msg.start) == 3 and not msg.more
