"""Lifecycle states of jobs, runs and clusters, and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "QUEUED"
    LEASED = "LEASED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_JOB

    @property
    def active(self) -> bool:
        """Holds (or is about to hold) capacity on a cluster."""
        return self in (JobState.LEASED, JobState.RUNNING)


_TERMINAL_JOB = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED}
)


class RunState(StrEnum):
    LEASED = "LEASED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    LOST = "LOST"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_RUN

    @property
    def active(self) -> bool:
        return not self.terminal


_TERMINAL_RUN = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST})

# What an agent report may move a run to, from each state the scheduler holds. A report that is
# not listed (e.g. RUNNING after SUCCEEDED) is stale and ignored, so reordered or repeated syncs
# never move a run backwards.
RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.LEASED: frozenset(
        {
            RunState.PENDING,
            RunState.RUNNING,
            RunState.SUCCEEDED,
            RunState.FAILED,
            RunState.CANCELLED,
            RunState.LOST,
        }
    ),
    RunState.PENDING: frozenset(
        {RunState.RUNNING, RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST}
    ),
    RunState.RUNNING: frozenset(
        {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST}
    ),
    RunState.SUCCEEDED: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CANCELLED: frozenset(),
    RunState.LOST: frozenset(),
}


class ClusterState(StrEnum):
    ACTIVE = "ACTIVE"
    CORDONED = "CORDONED"
    DRAINING = "DRAINING"
    LOST = "LOST"

    @property
    def schedulable(self) -> bool:
        return self is ClusterState.ACTIVE
