"""Repositories of what ran and why: runs, job events and explanations.

Like the other repositories they never commit; the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from scheduler.domain.models import Explanation, JobEvent, Run
from scheduler.domain.states import JobState, RunState
from scheduler.state import mapping as m
from scheduler.state.repositories import ACTIVE_RUN_STATES, ACTIVE_RUNS
from scheduler.state.tables import ExplanationRow, JobEventRow, RunRow


class Placement(NamedTuple):
    """What a scheduling cycle reads of an active run: where it holds capacity and since when
    it runs. A plain tuple: a cycle reads thousands every second, and building Run objects
    (every column, three timestamps) was most of that read's cost."""

    run_id: str
    job_id: str
    replica: int
    cluster: str
    node: str
    state: RunState
    started_at: datetime | None
    devices: tuple[int, ...] = ()  # device ids on `node` (Run.devices)


# Every column of a run as plain rows, not ORM objects: a Sync reads every run its cluster
# holds two or three times, and building (and tracking) ORM instances was most of that read
# (city simulator profile: ~60% of Runs.get_many). Runs are written with Core statements only,
# so no pending ORM change of a run can be missed by reading them this way.
_RUN_COLUMNS = sa_select(*RunRow.__table__.columns)  # type: ignore[attr-defined]


class Runs:
    def __init__(self, session: Session) -> None:
        self._s = session

    def insert(self, runs: Iterable[Run]) -> None:
        """One executemany, no ORM objects (a cycle inserts thousands of runs)."""
        values = [m.run_values(r) for r in runs]
        if values:
            self._s.execute(insert(RunRow), values)

    def for_job(self, job_id: str, attempt: int | None = None) -> list[Run]:
        query = select(RunRow).where(RunRow.job_id == job_id)
        if attempt is not None:
            query = query.where(RunRow.attempt == attempt)
        query = query.order_by(col(RunRow.attempt), col(RunRow.replica))
        return [m.run_from_row(r) for r in self._s.exec(query).all()]

    def for_jobs(self, job_ids: Collection[str]) -> list[Run]:
        ids = list(job_ids)
        out: list[Run] = []
        for start in range(0, len(ids), 1000):  # bounded statements, as Jobs.get_many_known
            query = select(RunRow).where(col(RunRow.job_id).in_(ids[start : start + 1000]))
            out.extend(m.run_from_row(r) for r in self._s.exec(query).all())
        return out

    def active(self, cluster: str | None = None) -> list[Run]:
        query = _RUN_COLUMNS.where(col(RunRow.state).in_(ACTIVE_RUN_STATES))
        if cluster is not None:
            query = query.where(col(RunRow.cluster) == cluster)
        return [m.run_from_row(r) for r in self._s.execute(query)]

    def active_placements(self) -> list[Placement]:
        """`active()` as Placements."""
        query = sa_select(
            col(RunRow.run_id),
            col(RunRow.job_id),
            col(RunRow.replica),
            col(RunRow.cluster),
            col(RunRow.node),
            col(RunRow.state),
            col(RunRow.started_at),
            col(RunRow.devices),
        ).where(col(RunRow.state).in_(ACTIVE_RUN_STATES))
        return [
            Placement(
                run_id,
                job_id,
                replica,
                cluster,
                node,
                RunState(state),
                m.utc_opt(started),
                m.devices_from_text(devices),
            )
            for run_id, job_id, replica, cluster, node, state, started, devices in self._s.execute(
                query
            )
        ]

    def job_ids(self, run_ids: Collection[str], active_on: str) -> set[str]:
        """The jobs of these runs and of the active runs on cluster `active_on`: what a Sync
        locks before it reads the runs again under the locks. One column, not Run objects: a
        full-state Sync names every run its cluster holds."""
        ids: set[str] = set()
        wanted = list(run_ids)
        for start in range(0, len(wanted), 1000):
            query = sa_select(col(RunRow.job_id)).where(
                col(RunRow.run_id).in_(wanted[start : start + 1000])
            )
            ids.update(job_id for (job_id,) in self._s.execute(query))
        query = (
            sa_select(col(RunRow.job_id))
            .where(col(RunRow.cluster) == active_on)
            .where(col(RunRow.state).in_(ACTIVE_RUN_STATES))
        )
        ids.update(job_id for (job_id,) in self._s.execute(query))
        return ids

    def active_per_cluster(self) -> dict[str, int]:
        """How many active runs each cluster has (clusters with none are absent): one grouped
        query on the (cluster, state) index, where `active(cluster=...)` per cluster built
        every run of the pool each cycle."""
        query = (
            select(RunRow.cluster, func.count())
            .where(col(RunRow.state).in_(ACTIVE_RUN_STATES))
            .group_by(col(RunRow.cluster))
        )
        return {cluster: int(n) for cluster, n in self._s.exec(query).all()}

    def get_many(self, run_ids: Collection[str]) -> dict[str, Run]:
        if not run_ids:
            return {}
        rows = self._s.execute(_RUN_COLUMNS.where(col(RunRow.run_id).in_(list(run_ids))))
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
        failure: str = "",
    ) -> bool:
        """Moves the run to `to` only if it is in one of `expected` (default: any active state);
        False if it was not.

        A conditional UPDATE, like `Jobs.move`: the reaper and a concurrent Sync (or a
        cancel) each read a run and then write it, and a read-modify-write would let the later
        commit overwrite the earlier one (a SUCCEEDED run turned LOST, a LOST run carrying a
        success). Terminal states stay terminal because no caller may expect one.
        """
        allowed = [s.value for s in (expected if expected is not None else ACTIVE_RUNS)]
        if any(RunState(s).terminal for s in allowed):
            raise ValueError("a terminal run state is final; it cannot be an expected state")
        values: dict[str, object] = {"state": to.value}
        if exit_code is not None:
            values["exit_code"] = exit_code
        if message is not None:
            values["message"] = message[:4096]
        if finished_at is not None:
            values["finished_at"] = finished_at
        if failure:
            values["failure"] = failure
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
    """Reads the job event log; `Jobs.insert` and `Jobs.move` write it, with the state change."""

    def __init__(self, session: Session) -> None:
        self._s = session

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

    def count(
        self,
        reason: str,
        *,
        state: JobState | None = None,
        since: datetime | None = None,
        job_id: str = "",
    ) -> int:
        """Events with `reason` (and `state`, at or after `since`, of `job_id` when given)."""
        query = select(func.count()).select_from(JobEventRow).where(JobEventRow.reason == reason)
        if state is not None:
            query = query.where(JobEventRow.state == state.value)
        if since is not None:
            query = query.where(col(JobEventRow.created_at) >= since)
        if job_id:
            query = query.where(JobEventRow.job_id == job_id)
        return int(self._s.exec(query).one())

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

    def put_many(self, explanations: Sequence[Explanation]) -> None:
        """`put` for many jobs: one DELETE per 1,000 ids and one executemany INSERT, instead of
        a SELECT and a write per job (see Jobs.set_reasons)."""
        if not explanations:
            return
        ids = [e.job_id for e in explanations]
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            self._s.execute(delete(ExplanationRow).where(col(ExplanationRow.job_id).in_(chunk)))
        self._s.execute(insert(ExplanationRow), [m.explanation_values(e) for e in explanations])

    def get(self, job_id: str, state: JobState) -> Explanation | None:
        row = self._s.get(ExplanationRow, job_id)
        return None if row is None else m.explanation_from_row(row, state)
