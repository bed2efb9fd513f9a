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

# The states a job is recorded in when it is submitted: QUEUED, or REJECTED when no cluster
# could ever run it. REJECTED is reached only this way, never by a move.
INITIAL_JOB_STATES = frozenset({JobState.QUEUED, JobState.REJECTED})

# Every move a job may make, and the only ones: `Jobs.move` in the store refuses anything else.
# Back to QUEUED is a new attempt after the old one was void: a gang member lost (LEASE_LOST) or
# the job preempted to make room (PREEMPTED). LEASED may end without RUNNING ever being seen,
# when the agent's first report already says the runs finished, failed or were lost.
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.LEASED, JobState.CANCELLED}),
    JobState.LEASED: frozenset(
        {
            JobState.RUNNING,
            JobState.QUEUED,
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
        }
    ),
    JobState.RUNNING: frozenset(
        {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED}
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.REJECTED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A code path asked for a job move the table does not allow: a bug in the scheduler, never
    a caller's mistake, so it is not a DomainError and surfaces as an internal error."""


def check_job_move(source: JobState, to: JobState) -> None:
    """Raises IllegalTransition unless JOB_TRANSITIONS allows `source` -> `to`."""
    if to not in JOB_TRANSITIONS[source]:
        allowed = ", ".join(sorted(JOB_TRANSITIONS[source])) or "nothing (final)"
        raise IllegalTransition(
            f"a job cannot move from {source.value} to {to.value}; from {source.value}: {allowed}"
        )


class RunState(StrEnum):
    LEASED = "LEASED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    LOST = "LOST"
    # Its job was preempted: the agent has been told to stop it (SIGTERM, then SIGKILL after
    # its grace period). Not terminal: the replica may still run, so it keeps holding its node's
    # capacity until the agent reports it ended.
    STOPPING = "STOPPING"
    # Stopped after a preemption (whatever exit the agent reported): never a failure.
    PREEMPTED = "PREEMPTED"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_RUN

    @property
    def active(self) -> bool:
        return not self.terminal


_TERMINAL_RUN = frozenset(
    {
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.CANCELLED,
        RunState.LOST,
        RunState.PREEMPTED,
    }
)

# Every move a run may make, from each state the scheduler holds. Agents report only some of
# these states (agent_sync.REPORTABLE); STOPPING is the scheduler's (a preemption) and PREEMPTED
# what a stopping run ends as. A report that is not listed (e.g. RUNNING after SUCCEEDED) is
# stale and ignored, so reordered or repeated syncs never move a run backwards.
RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.LEASED: frozenset(
        {
            RunState.PENDING,
            RunState.RUNNING,
            RunState.SUCCEEDED,
            RunState.FAILED,
            RunState.CANCELLED,
            RunState.LOST,
            RunState.STOPPING,
        }
    ),
    RunState.PENDING: frozenset(
        {
            RunState.RUNNING,
            RunState.SUCCEEDED,
            RunState.FAILED,
            RunState.CANCELLED,
            RunState.LOST,
            RunState.STOPPING,
        }
    ),
    RunState.RUNNING: frozenset(
        {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST, RunState.STOPPING}
    ),
    # However the replica ended after its preemption, it ended because of it; LOST when its
    # agent went silent past the lease timeout meanwhile.
    RunState.STOPPING: frozenset({RunState.PREEMPTED, RunState.LOST}),
    RunState.SUCCEEDED: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CANCELLED: frozenset(),
    RunState.LOST: frozenset(),
    RunState.PREEMPTED: frozenset(),
}

# Run states a job's current attempt may be preempted from.
PREEMPTABLE_RUNS = frozenset({RunState.LEASED, RunState.PENDING, RunState.RUNNING})


class ClusterState(StrEnum):
    ACTIVE = "ACTIVE"
    CORDONED = "CORDONED"
    DRAINING = "DRAINING"
    LOST = "LOST"

    @property
    def schedulable(self) -> bool:
        return self is ClusterState.ACTIVE
