"""Repositories in domain terms over one SQLAlchemy session.

They never commit: the caller's unit of work (`Store.unit()`) does, so a submit batch or a whole
scheduling cycle lands atomically or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from scheduler.domain.errors import AlreadyExists, NotFound, quote
from scheduler.domain.models import (
    Cluster,
    ClusterSpec,
    Department,
    Explanation,
    Job,
    JobEvent,
    Node,
    Run,
)
from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.state import mapping as m
from scheduler.state.tables import (
    ClusterRow,
    DepartmentRow,
    ExplanationRow,
    JobEventRow,
    JobRow,
    NodeRow,
    RunRow,
)

_ACTIVE_RUNS = tuple(s for s in RunState if s.active)
ACTIVE_RUN_STATES = [s.value for s in _ACTIVE_RUNS]


class Departments:
    def __init__(self, session: Session) -> None:
        self._s = session

    def create(self, name: str, display_name: str, now: datetime, parent: str = "") -> Department:
        if self._s.get(DepartmentRow, name) is not None:
            raise AlreadyExists(f"department {quote(name)} already exists", field="name")
        row = DepartmentRow(name=name, display_name=display_name, created_at=now, parent=parent)
        self._s.add(row)
        _flush(self._s, f"department {quote(name)} already exists", "name")
        return m.department_from_row(row)

    def all(self) -> list[Department]:
        rows = self._s.exec(select(DepartmentRow).order_by(col(DepartmentRow.name))).all()
        return [m.department_from_row(r) for r in rows]

    def exists(self, name: str) -> bool:
        return self._s.get(DepartmentRow, name) is not None

    def get(self, name: str) -> Department:
        row = self._s.get(DepartmentRow, name)
        if row is None:
            raise NotFound(f"department {quote(name)} not found", field="name")
        return m.department_from_row(row)

    def page(self, after: str | None, limit: int) -> list[Department]:
        """By name, those after `after`, at most `limit`."""
        query = select(DepartmentRow).order_by(col(DepartmentRow.name)).limit(limit)
        if after is not None:
            query = query.where(col(DepartmentRow.name) > after)
        return [m.department_from_row(r) for r in self._s.exec(query).all()]


class Clusters:
    def __init__(self, session: Session) -> None:
        self._s = session

    def create(self, spec: ClusterSpec, now: datetime) -> Cluster:
        if self._s.get(ClusterRow, spec.name) is not None:
            raise AlreadyExists(f"cluster {quote(spec.name)} already exists", field="name")
        row = m.cluster_to_row(spec, now)
        self._s.add(row)
        _flush(self._s, f"cluster {quote(spec.name)} already exists", "name")
        return m.cluster_from_row(row)

    def get(self, name: str) -> Cluster:
        return m.cluster_from_row(self._row(name))

    def all(self) -> list[Cluster]:
        rows = self._s.exec(select(ClusterRow).order_by(col(ClusterRow.name))).all()
        return [m.cluster_from_row(r) for r in rows]

    def exists(self, name: str) -> bool:
        return self._s.get(ClusterRow, name) is not None

    def page(self, after: str | None, limit: int) -> list[Cluster]:
        """By name, those after `after`, at most `limit`."""
        query = select(ClusterRow).order_by(col(ClusterRow.name)).limit(limit)
        if after is not None:
            query = query.where(col(ClusterRow.name) > after)
        return [m.cluster_from_row(r) for r in self._s.exec(query).all()]

    def set_state(self, name: str, state: ClusterState) -> Cluster:
        row = self._row(name)
        row.state = state.value
        self._s.add(row)
        return m.cluster_from_row(row)

    def heartbeat(self, name: str, now: datetime, agent_id: str) -> None:
        """Records the Sync at once (an UPDATE now, not at flush): the row lock it takes is
        what a concurrent reaper waits on before it re-reads the heartbeat."""
        result = self._s.execute(
            update(ClusterRow)
            .where(col(ClusterRow.name) == name)
            .values(last_heartbeat=now, agent_id=agent_id)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"cluster {name!r} not found", field="name")

    def lock_if_silent(self, name: str, cutoff: datetime) -> bool:
        """Locks the cluster's row if its stored heartbeat is older than `cutoff`; False if the
        agent synced since (a no-op UPDATE: it waits for a concurrent Sync's commit and then
        re-reads the heartbeat, so a verdict of "silent" is never built on a stale read)."""
        result = self._s.execute(
            update(ClusterRow)
            .where(col(ClusterRow.name) == name)
            .where(col(ClusterRow.last_heartbeat) < cutoff)
            .values(last_heartbeat=col(ClusterRow.last_heartbeat))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def set_agent_error(self, name: str, error: str) -> None:
        """Records what the agent last reported as failing ("" clears it)."""
        row = self._row(name)
        if row.agent_error != error:
            row.agent_error = error
            self._s.add(row)

    def delete(self, name: str) -> None:
        self._row(name)
        self._s.execute(delete(NodeRow).where(col(NodeRow.cluster) == name))
        self._s.execute(delete(ClusterRow).where(col(ClusterRow.name) == name))

    def replace_nodes(self, cluster: str, nodes: Sequence[Node], now: datetime) -> bool:
        """Makes the stored nodes of `cluster` equal `nodes`; True if anything changed."""
        rows = self._s.exec(select(NodeRow).where(NodeRow.cluster == cluster)).all()
        existing = {r.name: r for r in rows}
        changed = False
        wanted = {n.name for n in nodes}
        for name, old in existing.items():
            if name not in wanted:
                self._s.delete(old)
                changed = True
        for node in nodes:
            row = existing.get(node.name)
            if row is None:
                self._s.add(m.node_to_row(node, now))
                changed = True
            elif row.capacity != dict(node.capacity) or row.labels != dict(node.labels):
                row.capacity = dict(node.capacity)
                row.labels = dict(node.labels)
                row.updated_at = now
                self._s.add(row)
                changed = True
        return changed

    def nodes(self, cluster: str | None = None) -> list[Node]:
        query = select(NodeRow).order_by(col(NodeRow.cluster), col(NodeRow.name))
        if cluster is not None:
            query = query.where(NodeRow.cluster == cluster)
        return [m.node_from_row(r) for r in self._s.exec(query).all()]

    def _row(self, name: str) -> ClusterRow:
        row = self._s.get(ClusterRow, name)
        if row is None:
            raise NotFound(f"cluster {quote(name)} not found", field="name")
        return row


class Jobs:
    def __init__(self, session: Session) -> None:
        self._s = session

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
        row = m.job_to_row(job)
        self._s.add(row)
        # A concurrent submit of the same client_id surfaces here as IntegrityError; the
        # use case retries the whole batch, which then sees the other job as a duplicate.
        self._s.flush()
        return m.job_from_row(row)

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

    def in_states(self, states: Collection[JobState]) -> list[Job]:
        """FIFO order (submit sequence)."""
        query = (
            select(JobRow)
            .where(col(JobRow.state).in_([s.value for s in states]))
            .order_by(col(JobRow.seq))
        )
        return [m.job_from_row(r) for r in self._s.exec(query).all()]

    def transition(
        self,
        job_id: str,
        to: JobState,
        *,
        expected: Collection[JobState],
        now: datetime,
        reason: str | None = None,
        message: str | None = None,
        attempt: int | None = None,
        cluster: str | None = None,
    ) -> bool:
        """Moves the job to `to` only if it is in one of `expected`; False if it was not.

        A conditional UPDATE rather than read-modify-write, so a cancel that lands between a
        cycle's snapshot and its commit is never overwritten by a stale lease.
        """
        values: dict[str, object] = {"state": to.value, "updated_at": now}
        if reason is not None:
            values["reason"] = reason
        if message is not None:
            values["message"] = message[:4096]
        if attempt is not None:
            values["attempt"] = attempt
        if cluster is not None:
            values["cluster"] = cluster
        result = self._s.execute(
            update(JobRow)
            .where(col(JobRow.job_id) == job_id)
            .where(col(JobRow.state).in_([s.value for s in expected]))
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def set_reason(self, job_id: str, reason: str, message: str, now: datetime) -> None:
        self._s.execute(
            update(JobRow)
            .where(col(JobRow.job_id) == job_id)
            .values(reason=reason, message=message[:4096], updated_at=now)
        )

    def count_by_state(self) -> dict[JobState, int]:
        rows = self._s.exec(select(JobRow.state, func.count()).group_by(JobRow.state)).all()
        return {JobState(s): int(n) for s, n in rows}


class Runs:
    def __init__(self, session: Session) -> None:
        self._s = session

    def insert(self, runs: Iterable[Run]) -> None:
        self._s.add_all([m.run_to_row(r) for r in runs])
        self._s.flush()

    def for_job(self, job_id: str, attempt: int | None = None) -> list[Run]:
        query = select(RunRow).where(RunRow.job_id == job_id)
        if attempt is not None:
            query = query.where(RunRow.attempt == attempt)
        query = query.order_by(col(RunRow.attempt), col(RunRow.replica))
        return [m.run_from_row(r) for r in self._s.exec(query).all()]

    def for_jobs(self, job_ids: Collection[str]) -> list[Run]:
        if not job_ids:
            return []
        query = select(RunRow).where(col(RunRow.job_id).in_(list(job_ids)))
        return [m.run_from_row(r) for r in self._s.exec(query).all()]

    def active(self, cluster: str | None = None) -> list[Run]:
        query = select(RunRow).where(col(RunRow.state).in_(ACTIVE_RUN_STATES))
        if cluster is not None:
            query = query.where(RunRow.cluster == cluster)
        return [m.run_from_row(r) for r in self._s.exec(query).all()]

    def get_many(self, run_ids: Collection[str]) -> dict[str, Run]:
        if not run_ids:
            return {}
        rows = self._s.exec(select(RunRow).where(col(RunRow.run_id).in_(list(run_ids)))).all()
        return {r.run_id: m.run_from_row(r) for r in rows}

    def transition(
        self,
        run_id: str,
        to: RunState,
        *,
        expected: Collection[RunState] | None = None,
        exit_code: int | None = None,
        message: str | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
    ) -> bool:
        """Moves the run to `to` only if it is in one of `expected` (default: any active state);
        False if it was not.

        A conditional UPDATE, like `Jobs.transition`: the reaper and a concurrent Sync (or a
        cancel) each read a run and then write it, and a read-modify-write would let the later
        commit overwrite the earlier one (a SUCCEEDED run turned LOST, a LOST run carrying a
        success). Terminal states stay terminal because no caller may expect one.
        """
        allowed = [s.value for s in (expected if expected is not None else _ACTIVE_RUNS)]
        if any(RunState(s).terminal for s in allowed):
            raise ValueError("a terminal run state is final; it cannot be an expected state")
        values: dict[str, object] = {"state": to.value}
        if exit_code is not None:
            values["exit_code"] = exit_code
        if message is not None:
            values["message"] = message[:4096]
        if finished_at is not None:
            values["finished_at"] = finished_at
        if started_at is not None:
            values["started_at"] = func.coalesce(col(RunRow.started_at), started_at)
        result = self._s.execute(
            update(RunRow)
            .where(col(RunRow.run_id) == run_id)
            .where(col(RunRow.state).in_(allowed))
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class Events:
    def __init__(self, session: Session) -> None:
        self._s = session

    def append(
        self,
        job: Job,
        state: JobState,
        now: datetime,
        *,
        reason: str = "",
        message: str = "",
        cluster: str = "",
        node: str = "",
        attempt: int | None = None,
        exit_code: int | None = None,
    ) -> None:
        self._s.add(
            JobEventRow(
                job_id=job.job_id,
                department=job.department,
                job_set=job.spec.job_set,
                state=state.value,
                reason=reason,
                message=message[:4096],
                cluster=cluster,
                node=node,
                attempt=job.attempt if attempt is None else attempt,
                exit_code=exit_code,
                created_at=now,
            )
        )

    def after(
        self,
        department: str | None,
        after_id: int,
        *,
        job_set: str = "",
        job_id: str = "",
        limit: int = 500,
    ) -> list[JobEvent]:
        query = select(JobEventRow).where(col(JobEventRow.event_id) > after_id)
        if department is not None:  # None: every department (an operator)
            query = query.where(JobEventRow.department == department)
        if job_set:
            query = query.where(JobEventRow.job_set == job_set)
        if job_id:
            query = query.where(JobEventRow.job_id == job_id)
        query = query.order_by(col(JobEventRow.event_id)).limit(limit)
        return [m.event_from_row(r) for r in self._s.exec(query).all()]

    def for_job(self, job_id: str) -> list[JobEvent]:
        query = (
            select(JobEventRow)
            .where(JobEventRow.job_id == job_id)
            .order_by(col(JobEventRow.event_id))
        )
        return [m.event_from_row(r) for r in self._s.exec(query).all()]


class Explanations:
    def __init__(self, session: Session) -> None:
        self._s = session

    def put(self, e: Explanation) -> None:
        self._s.merge(m.explanation_to_row(e))

    def get(self, job_id: str, state: JobState) -> Explanation | None:
        row = self._s.get(ExplanationRow, job_id)
        return None if row is None else m.explanation_from_row(row, state)


def _flush(session: Session, message: str, field: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(message, field=field) from exc
