"""The job transition table and `Jobs.move`, the one path by which a job changes state, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.domain import reasons
from scheduler.domain.models import Job, JobEvent, JobSpec
from scheduler.domain.states import (
    INITIAL_JOB_STATES,
    JOB_TRANSITIONS,
    IllegalTransition,
    JobState,
)
from scheduler.state import Store, Tx
from scheduler.state.job_values import Move
from tests.conftest import postgres_url, reset_postgres

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
DEPARTMENT = "交通局"

# The reason each move is made with, as the services make it.
REASONS = {
    JobState.LEASED: reasons.PLACED,
    JobState.RUNNING: reasons.RUNNING,
    JobState.QUEUED: reasons.PREEMPTED,
    JobState.SUCCEEDED: reasons.COMPLETED,
    JobState.FAILED: reasons.EXIT_CODE,
    JobState.CANCELLED: reasons.CANCELLED,
}


def _paths() -> dict[JobState, tuple[JobState, list[JobState]]]:
    """For each state, an initial state and the legal moves from it that reach the state."""
    found: dict[JobState, tuple[JobState, list[JobState]]] = {
        s: (s, []) for s in sorted(INITIAL_JOB_STATES)
    }
    todo = deque(sorted(INITIAL_JOB_STATES))
    while todo:
        state = todo.popleft()
        start, path = found[state]
        for nxt in sorted(JOB_TRANSITIONS[state]):
            if nxt not in found:
                found[nxt] = (start, [*path, nxt])
                todo.append(nxt)
    return found


PATHS = _paths()


def _job(job_id: str, state: JobState = JobState.QUEUED) -> Job:
    return Job(
        job_id=job_id,
        department=DEPARTMENT,
        spec=JobSpec(client_id=job_id, command=("true",), resources={"cpu": 100}, job_set="s"),
        state=state,
        created_at=NOW,
        updated_at=NOW,
        reason=reasons.NOT_YET_SCHEDULED,
        message="submitted",
    )


def _job_in(tx: Tx, job_id: str, state: JobState) -> Job:
    """A new job brought to `state` by legal moves only."""
    start, path = PATHS[state]
    job: Job | None = tx.jobs.insert(_job(job_id, start))
    for step in path:
        assert job is not None
        job = tx.jobs.move(
            job, step, reason=REASONS[step], message="setup", now=NOW, cluster="gov-a", attempt=1
        )
    assert job is not None and job.state is state
    return job


@pytest.fixture
def seeded(store: Store) -> Store:
    with store.unit() as tx:
        tx.departments.create(DEPARTMENT, "Transport", NOW)
    return store


def _events(tx: Tx, job_id: str) -> list[JobEvent]:
    return tx.events.for_job(job_id)


def test_table_names_every_state_and_terminal_states_are_final() -> None:
    """The table has a row per state; exactly the terminal states have no way out, no state
    moves to itself, and REJECTED is reached only at submit."""
    assert set(JOB_TRANSITIONS) == set(JobState)
    for state, targets in JOB_TRANSITIONS.items():
        assert (not targets) == state.terminal, state
        assert state not in targets
        assert JobState.REJECTED not in targets
    assert set(PATHS) == set(JobState), "every state is reachable from submit"


def test_every_legal_move_is_made_with_one_event(seeded: Store) -> None:
    """Each move the table allows changes the row and appends exactly one event carrying the
    state, reason, message, cluster, node, attempt and exit code given."""
    pairs = [(s, t) for s, targets in JOB_TRANSITIONS.items() for t in sorted(targets)]
    assert len(pairs) == 11
    for source, to in pairs:
        job_id = f"{source}-{to}".lower()
        with seeded.unit() as tx:
            job = _job_in(tx, job_id, source)
            before = len(_events(tx, job_id))
            moved = tx.jobs.move(
                job,
                to,
                reason=REASONS[to],
                message=f"{source} to {to}",
                now=LATER,
                cluster="gov-b",
                attempt=2,
                node="n7",
                exit_code=3,
            )
            assert moved is not None and moved.state is to
        with seeded.unit(write=False) as tx:
            stored = tx.jobs.get(job_id)
            assert stored == moved, (source, to)
            assert (stored.reason, stored.cluster, stored.attempt) == (REASONS[to], "gov-b", 2)
            assert stored.updated_at == LATER
            events = _events(tx, job_id)
            assert len(events) == before + 1, (source, to)
            last = events[-1]
            assert (last.state, last.reason, last.message) == (
                to,
                REASONS[to],
                f"{source} to {to}",
            )
            assert (last.cluster, last.node, last.attempt, last.exit_code) == ("gov-b", "n7", 2, 3)
            assert last.created_at == LATER


def test_every_illegal_move_is_refused_and_changes_nothing(seeded: Store) -> None:
    """A move the table does not allow raises IllegalTransition and leaves the job and its
    events as they were."""
    refused = 0
    for source in JobState:
        with seeded.unit() as tx:
            job = _job_in(tx, f"from-{source}".lower(), source)
        for to in JobState:
            if to in JOB_TRANSITIONS[source]:
                continue
            with seeded.unit() as tx:
                before = _events(tx, job.job_id)
                with pytest.raises(IllegalTransition, match=f"from {source} to {to}"):
                    tx.jobs.move(job, to, reason="X", message="illegal", now=LATER)
            with seeded.unit(write=False) as tx:
                assert tx.jobs.get(job.job_id) == job, (source, to)
                assert _events(tx, job.job_id) == before
            refused += 1
    assert refused == len(JobState) ** 2 - 11


def test_only_initial_states_are_inserted_each_with_its_event(seeded: Store) -> None:
    """A job is recorded at submit as QUEUED or REJECTED with one event; any other state is
    refused and nothing is written."""
    with seeded.unit() as tx:
        for state in INITIAL_JOB_STATES:
            tx.jobs.insert(_job(f"new-{state}".lower(), state))
    with seeded.unit(write=False) as tx:
        for state in INITIAL_JOB_STATES:
            [event] = _events(tx, f"new-{state}".lower())
            assert (event.state, event.reason, event.message) == (
                state,
                reasons.NOT_YET_SCHEDULED,
                "submitted",
            )
            assert event.created_at == NOW and event.cluster == "" and event.attempt == 0
    for state in set(JobState) - INITIAL_JOB_STATES:
        with pytest.raises(IllegalTransition, match=state.value), seeded.unit() as tx:
            tx.jobs.insert(_job("late", state))
        with seeded.unit(write=False) as tx:
            assert tx.jobs.get_many(["late"]) == {} and _events(tx, "late") == []


def test_preempted_job_goes_back_to_the_queue_with_its_reason(seeded: Store) -> None:
    """RUNNING -> QUEUED with reason PREEMPTED keeps the attempt and records who needed room."""
    with seeded.unit() as tx:
        running = _job_in(tx, "victim", JobState.RUNNING)
        queued = tx.jobs.move(
            running,
            JobState.QUEUED,
            reason=reasons.PREEMPTED,
            message="preempted for job j9 of 公安局",
            now=LATER,
            node="n1",
        )
    assert queued is not None and queued.attempt == running.attempt == 1
    with seeded.unit(write=False) as tx:
        last = _events(tx, "victim")[-1]
        assert (last.state, last.reason, last.node) == (JobState.QUEUED, reasons.PREEMPTED, "n1")
        assert last.message == "preempted for job j9 of 公安局" and last.cluster == "gov-a"


def test_move_from_a_stale_read_returns_none_and_appends_nothing(seeded: Store) -> None:
    """When the job changed state since it was read (a cancel between a cycle's snapshot and
    its commit), the move writes nothing and says so."""
    with seeded.unit() as tx:
        tx.jobs.insert(_job("raced"))
    with seeded.unit(write=False) as tx:
        stale = tx.jobs.get("raced")
    with seeded.unit() as tx:
        assert tx.jobs.move(
            stale, JobState.CANCELLED, reason=reasons.CANCELLED, message="by user", now=NOW
        )
    with seeded.unit() as tx:
        lease = tx.jobs.move(
            stale,
            JobState.LEASED,
            reason=reasons.PLACED,
            message="placed",
            now=LATER,
            cluster="gov-a",
            attempt=1,
        )
        assert lease is None
    with seeded.unit(write=False) as tx:
        job = tx.jobs.get("raced")
        assert (job.state, job.cluster, job.attempt) == (JobState.CANCELLED, "", 0)
        events = _events(tx, "raced")
        assert [e.state for e in events] == [JobState.QUEUED, JobState.CANCELLED]


def test_move_loses_to_a_transaction_that_committed_first() -> None:
    """A transaction that read the job before another one moved it and committed (the cycle's
    snapshot, then a cancel) finds the state changed and writes neither state nor event."""
    url = postgres_url()
    reset_postgres(url)
    store = Store(url)
    try:
        with store.unit() as tx:
            tx.departments.create(DEPARTMENT, "Transport", NOW)
            tx.jobs.insert(_job("raced"))
        with store.unit() as cycle:
            snapshot = cycle.jobs.get("raced")
            with store.unit() as cancel:
                assert cancel.jobs.move(
                    cancel.jobs.get("raced"),
                    JobState.CANCELLED,
                    reason=reasons.CANCELLED,
                    message="by user",
                    now=NOW,
                )
            assert (
                cycle.jobs.move(
                    snapshot, JobState.LEASED, reason=reasons.PLACED, message="", now=LATER
                )
                is None
            )
        with store.unit(write=False) as tx:
            assert tx.jobs.get("raced").state is JobState.CANCELLED
            assert [e.state for e in _events(tx, "raced")] == [
                JobState.QUEUED,
                JobState.CANCELLED,
            ]
    finally:
        store.dispose()


def test_move_many_equals_move_and_skips_jobs_changed_since_read(seeded: Store) -> None:
    """Leasing many jobs at once stores what a move per job would (rows, events, the moves a
    transaction made), returns None for a job cancelled since it was read, writes nothing for
    it, and refuses an illegal move before writing anything."""
    with seeded.unit() as tx:
        read = [tx.jobs.insert(_job(f"q{i}")) for i in range(4)]
    with seeded.unit() as tx:
        assert tx.jobs.move(read[2], JobState.CANCELLED, reason="CANCELLED", message="x", now=NOW)
    with seeded.unit() as tx:
        moved = tx.jobs.move_many(
            [
                Move(job, JobState.LEASED, reasons.PLACED, f"placed {job.job_id}", "gov-a", 1)
                for job in read
            ],
            LATER,
        )
        assert [m is None for m in moved] == [False, False, True, False]
        assert [(old.job_id, new.state) for old, new in tx.jobs.moves] == [
            ("q0", JobState.LEASED),
            ("q1", JobState.LEASED),
            ("q3", JobState.LEASED),
        ]
    with seeded.unit(write=False) as tx:
        for job, lease in zip(read, moved, strict=True):
            stored = tx.jobs.get(job.job_id)
            events = _events(tx, job.job_id)
            if lease is None:
                assert stored.state is JobState.CANCELLED and len(events) == 2
                continue
            assert stored == lease
            assert (stored.cluster, stored.attempt, stored.message) == (
                "gov-a",
                1,
                f"placed {job.job_id}",
            )
            assert [e.state for e in events] == [JobState.QUEUED, JobState.LEASED]
            assert (events[-1].reason, events[-1].created_at) == (reasons.PLACED, LATER)
    with seeded.unit() as tx:
        fresh = tx.jobs.insert(_job("q9"))
        with pytest.raises(IllegalTransition):
            tx.jobs.move_many(
                [
                    Move(fresh, JobState.LEASED, reasons.PLACED, "m", "gov-a", 1),
                    Move(tx.jobs.get("q2"), JobState.LEASED, reasons.PLACED, "m", "gov-a", 1),
                ],
                LATER,
            )
    with seeded.unit(write=False) as tx:
        assert tx.jobs.get("q2").state is JobState.CANCELLED
