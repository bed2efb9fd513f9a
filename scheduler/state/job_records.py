"""The job repository, in domain terms over one SQLAlchemy session: insert, read, queue order
and the one path of a job's state changes (`move`: state and event together). Like the other
repositories (repositories.py, run_records.py) it never commits; the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from scheduler.domain import reasons
from scheduler.domain.errors import NotFound, quote
from scheduler.domain.models import (
    Job,
)
from scheduler.domain.states import (
    INITIAL_JOB_STATES,
    IllegalTransition,
    JobState,
    check_job_move,
)
from scheduler.state import mapping as m
from scheduler.state.job_values import (
    MUTABLE_COLUMNS,
    Move,
    event_values,
    moved_job,
    refreshed,
)
from scheduler.state.tables import (
    JobEventRow,
    JobRow,
)


class Jobs:
    def __init__(self, session: Session) -> None:
        self._s = session
        # (job as read, job as moved) of each move made in this transaction, in order: read
        # after the commit by Store.after_commit (metrics count committed moves only).
        self.moves: list[tuple[Job, Job]] = []

    def by_client_ids(self, department: str, client_ids: Collection[str]) -> dict[str, Job]:
        if not client_ids:
            return {}
        rows = self._s.exec(
            select(JobRow).where(
                JobRow.department == department, col(JobRow.client_id).in_(list(client_ids))
            )
        ).all()
        return {r.client_id: m.job_from_row(r) for r in rows}

    def insert(self, job: Job) -> Job:
        """Records a submitted job (QUEUED or REJECTED) and its first event."""
        if job.state not in INITIAL_JOB_STATES:
            raise IllegalTransition(f"a job cannot be recorded as {job.state.value} at submit")
        row = m.job_to_row(job)
        self._s.add(row)
        # A concurrent submit of the same client_id surfaces here as IntegrityError; the
        # use case retries the whole batch, which then sees the other job as a duplicate.
        self._s.flush()
        self._event(job)
        return m.job_from_row(row)

    def insert_many(self, jobs: Sequence[Job]) -> None:
        """`insert` for a batch of submitted jobs: the job rows in one executemany and their
        first events in another, with no ORM object per row (issue 11: one object, one flush
        and one INSERT per job capped 1,000-job batches at ~600 jobs/s). A concurrent submit
        of one of the client_ids raises IntegrityError here, as `insert` does."""
        for job in jobs:
            if job.state not in INITIAL_JOB_STATES:
                raise IllegalTransition(f"a job cannot be recorded as {job.state.value} at submit")
        if not jobs:
            return
        self._s.execute(insert(JobRow), [m.job_values(job) for job in jobs])
        self._s.execute(insert(JobEventRow), [event_values(job) for job in jobs])

    def get(self, job_id: str) -> Job:
        row = self._s.exec(select(JobRow).where(JobRow.job_id == job_id)).first()
        if row is None:
            raise NotFound(f"job {quote(job_id)} not found", field="job_id")
        return m.job_from_row(row)

    def get_many(self, job_ids: Iterable[str]) -> dict[str, Job]:
        ids = list(set(job_ids))
        if not ids:
            return {}
        rows = self._s.exec(select(JobRow).where(col(JobRow.job_id).in_(ids))).all()
        return {r.job_id: m.job_from_row(r) for r in rows}

    def get_many_known(self, job_ids: Iterable[str], known: Mapping[str, Job]) -> dict[str, Job]:
        """`get_many(job_ids)`, reading whole only the jobs not in `known` (jobs read earlier).

        Only `move`, `set_reason(s)`, `set_max_runtime` (whose spec change no cycle reads:
        agent syncs read jobs whole) and the cycle's effective priorities (state/fair_share.py)
        write a job row after `insert`, and only the fields in MUTABLE_FIELDS: the spec,
        department, seq and digest stay as inserted. So a known job is refreshed from those
        columns alone, and returned as it was when none of them changed; a scheduling cycle
        re-reads the thousands of running jobs every second this way without decoding their
        specs again.
        """
        ids = list(set(job_ids))
        seen = [i for i in ids if i in known]
        out = self.get_many(i for i in ids if i not in known)
        for start in range(0, len(seen), 1000):
            query = sa_select(col(JobRow.job_id), *MUTABLE_COLUMNS).where(
                col(JobRow.job_id).in_(seen[start : start + 1000])
            )
            for job_id, *values in self._s.execute(query):
                out[job_id] = refreshed(known[job_id], values)
        return out

    def page(
        self,
        department: str | None,
        *,
        states: Collection[JobState] = (),
        job_set: str = "",
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first; `before_seq` continues a previous page. None: every department."""
        query = select(JobRow)
        if department is not None:
            query = query.where(JobRow.department == department)
        if states:
            query = query.where(col(JobRow.state).in_([s.value for s in states]))
        if job_set:
            query = query.where(JobRow.job_set == job_set)
        if before_seq is not None:
            query = query.where(col(JobRow.seq) < before_seq)
        query = query.order_by(col(JobRow.seq).desc()).limit(limit)
        return [m.job_from_row(r) for r in self._s.exec(query).all()]

    def lock(self, job_ids: Iterable[str]) -> None:
        """Takes the row locks of these jobs, in id order (PostgreSQL; SQLite's one write lock
        covers them already). Every writer that changes a job and its runs locks the job rows
        first, so two writers never wait on each other in opposite orders (a deadlock)."""
        ids = sorted(set(job_ids))
        for start in range(0, len(ids), 1000):
            self._s.execute(
                select(JobRow.job_id)
                .where(col(JobRow.job_id).in_(ids[start : start + 1000]))
                .order_by(col(JobRow.job_id))
                .with_for_update()
            )

    def queued_first(self, limit: int, known: Mapping[str, Job] | None = None) -> list[Job]:
        """The `limit` queued jobs a cycle considers: highest effective priority first (the
        last cycle's, scheduler.service.policy; a job no cycle has ranked yet by its bare
        priority, on the same 0-1000 scale), then oldest. Sorted and cut by the database, so a
        queue of 100,000 costs a cycle no more than `limit`. With `known` (the jobs an earlier
        cycle read), only the ids are read in order and the jobs by `get_many_known`: a cycle
        over a long queue then decodes only the jobs it has not seen (issue 11: the snapshot
        of 5,000 queued jobs took 1.6 s, most of it decoding specs that never change)."""
        rank = func.coalesce(col(JobRow.effective_priority), col(JobRow.priority))
        queued = col(JobRow.state) == JobState.QUEUED.value
        # In the order of ix_job_queue_rank, which serves it without sorting the queue.
        order = (rank.desc(), col(JobRow.seq))
        if not known:
            query = select(JobRow).where(queued).order_by(*order).limit(limit)
            return [m.job_from_row(r) for r in self._s.exec(query).all()]
        # The ids in order with the columns that change: a known job is refreshed from them
        # (as get_many_known does), the others are read whole.
        rows = self._s.execute(
            sa_select(col(JobRow.job_id), *MUTABLE_COLUMNS)
            .where(queued)
            .order_by(*order)
            .limit(limit)
        ).all()
        unknown = self.get_many(job_id for job_id, *_ in rows if job_id not in known)
        out = []
        for job_id, *values in rows:
            job = known.get(job_id)
            if job is not None:
                out.append(refreshed(job, values))
            elif job_id in unknown:
                out.append(unknown[job_id])
        return out

    def in_states(self, states: Collection[JobState]) -> list[Job]:
        """FIFO order (submit sequence)."""
        query = (
            select(JobRow)
            .where(col(JobRow.state).in_([s.value for s in states]))
            .order_by(col(JobRow.seq))
        )
        return [m.job_from_row(r) for r in self._s.exec(query).all()]

    def move(
        self,
        job: Job,
        to: JobState,
        *,
        reason: str,
        message: str,
        now: datetime,
        cluster: str | None = None,
        attempt: int | None = None,
        node: str = "",
        exit_code: int | None = None,
    ) -> Job | None:
        """Moves `job` from the state it was read in to `to` and appends the event that says so,
        in the caller's transaction; returns the job as moved, or None (and no event) if its
        state changed since it was read. The one way a job's state changes after submit.

        A move JOB_TRANSITIONS does not allow raises IllegalTransition. The UPDATE is
        conditional on the state read rather than a read-modify-write, so a cancel that lands
        between a cycle's snapshot and its commit is never overwritten by a stale lease.
        `cluster` and `attempt` are stored on the job (a lease sets both), `node` and
        `exit_code` only on the event.
        """
        check_job_move(job.state, to)
        moved = moved_job(job, to, reason, message, now, cluster, attempt)
        result = self._s.execute(
            update(JobRow)
            .where(col(JobRow.job_id) == job.job_id)
            .where(col(JobRow.state) == job.state.value)
            .values(
                state=to.value,
                updated_at=now,
                reason=reason,
                message=moved.message,
                cluster=moved.cluster,
                attempt=moved.attempt,
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        self._event(moved, node=node, exit_code=exit_code)
        self.moves.append((job, moved))
        return moved

    def move_many(self, moves: Sequence[Move], now: datetime) -> list[Job | None]:
        """`move` for many jobs at once (a cycle's leases, a sync's settled jobs): the same
        checks and the same result per move (None, and no event, for a job whose state
        changed since it was read), in three statements per 1,000 jobs instead of two per job
        (issue 11: a cycle leasing 2,000 jobs and a sync settling hundreds spent seconds in
        them, holding the database's one writer). The jobs are locked first (`lock`:
        PostgreSQL row locks; on SQLite this transaction is the only writer), so the states
        read under the locks are the states the UPDATE meets."""
        for move in moves:
            check_job_move(move.job.state, move.to)
        ids = [move.job.job_id for move in moves]
        self.lock(ids)
        current: dict[str, str] = {}
        for start in range(0, len(ids), 1000):
            query = sa_select(col(JobRow.job_id), col(JobRow.state)).where(
                col(JobRow.job_id).in_(ids[start : start + 1000])
            )
            current.update((job_id, state) for job_id, state in self._s.execute(query))
        out: list[Job | None] = []
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for move in moves:
            job = move.job
            if current.get(job.job_id) != job.state.value:
                out.append(None)
                continue
            # A second move of the same read job meets the state the first left, as `move`
            # would: None.
            moved = moved_job(
                job, move.to, move.reason, move.message, now, move.cluster, move.attempt
            )
            current[job.job_id] = move.to.value
            out.append(moved)
            self.moves.append((job, moved))
            rows.append(
                {
                    "b_job_id": job.job_id,
                    "b_from": job.state.value,
                    "state": move.to.value,
                    "updated_at": now,
                    "reason": move.reason,
                    "message": moved.message,
                    "cluster": moved.cluster,
                    "attempt": moved.attempt,
                }
            )
            events.append(event_values(moved, node=move.node, exit_code=move.exit_code))
        if rows:
            table = JobRow.__table__  # type: ignore[attr-defined]
            self._s.execute(
                update(table)
                .where(table.c.job_id == bindparam("b_job_id"))
                .where(table.c.state == bindparam("b_from")),
                rows,
            )
            self._s.execute(insert(JobEventRow), events)
        return out

    def set_max_runtime(self, job: Job, seconds: int, *, message: str, now: datetime) -> Job:
        """Stores a new max runtime on a job the caller locked, with a MAX_RUNTIME_CHANGED
        event in the job's current state; its state, reason and message stay as they are."""
        self._s.execute(
            update(JobRow)
            .where(col(JobRow.job_id) == job.job_id)
            .values(max_runtime_seconds=seconds, max_runtime_changed_at=now, updated_at=now)
        )
        changed = replace(
            job,
            spec=replace(job.spec, max_runtime_seconds=seconds),
            max_runtime_changed_at=now,
            updated_at=now,
        )
        self._event(replace(changed, reason=reasons.MAX_RUNTIME_CHANGED, message=message))
        return changed

    def changed_runtimes(self, job_ids: Iterable[str]) -> dict[str, int]:
        """max_runtime_seconds of those of `job_ids` whose limit UpdateJob changed; two columns
        only, as every agent sync asks for the jobs of all its live runs."""
        ids = sorted(set(job_ids))
        out: dict[str, int] = {}
        for start in range(0, len(ids), 1000):
            query = sa_select(col(JobRow.job_id), col(JobRow.max_runtime_seconds)).where(
                col(JobRow.job_id).in_(ids[start : start + 1000]),
                col(JobRow.max_runtime_changed_at).is_not(None),
            )
            out.update({job_id: int(seconds) for job_id, seconds in self._s.execute(query)})
        return out

    def set_reason(self, job_id: str, reason: str, message: str, now: datetime) -> None:
        self._s.execute(
            update(JobRow)
            .where(col(JobRow.job_id) == job_id)
            .values(reason=reason, message=message[:4096], updated_at=now)
        )

    def set_reasons(self, changes: Sequence[tuple[Job, str, str]], now: datetime) -> None:
        """`set_reason` for many jobs in one executemany (by primary key): a cycle over a queue
        of thousands rewrites their reasons, and one UPDATE each held the write lock for
        seconds."""
        if changes:
            # Only still-queued jobs: a cancel that landed since the snapshot keeps its reason.
            self._s.execute(
                update(JobRow)
                .where(col(JobRow.state) == JobState.QUEUED.value)
                .execution_options(synchronize_session=None),
                [
                    {"seq": job.seq, "reason": reason, "message": message[:4096], "updated_at": now}
                    for job, reason, message in changes
                ],
            )

    def count_by_state(self) -> dict[JobState, int]:
        rows = self._s.exec(select(JobRow.state, func.count()).group_by(JobRow.state)).all()
        return {JobState(s): int(n) for s, n in rows}

    def queued_by_department_reason(self) -> dict[tuple[str, str], int]:
        """Queued jobs per (department, reason code): one grouped read over ix_job_state."""
        rows = self._s.exec(
            select(JobRow.department, JobRow.reason, func.count())
            .where(JobRow.state == JobState.QUEUED.value)
            .group_by(JobRow.department, JobRow.reason)
        ).all()
        return {(d, r): int(n) for d, r, n in rows}

    def _event(self, job: Job, *, node: str = "", exit_code: int | None = None) -> None:
        """The event of the state `job` is now in; only the inserts and `move` write events."""
        self._s.add(JobEventRow(**event_values(job, node=node, exit_code=exit_code)))
