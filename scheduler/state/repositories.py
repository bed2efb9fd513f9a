"""Repositories of departments and clusters, in domain terms over one SQLAlchemy session (jobs:
job_records.py; runs, events and explanations: run_records.py).

They never commit: the caller's unit of work (`Store.unit()`) does, so a submit batch or a whole
scheduling cycle lands atomically or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from scheduler.domain.errors import AlreadyExists, NotFound, quote
from scheduler.domain.models import (
    Cluster,
    ClusterSpec,
    Department,
    Node,
)
from scheduler.domain.states import (
    ClusterState,
    RunState,
)
from scheduler.state import mapping as m
from scheduler.state.tables import (
    ClusterRow,
    DepartmentRow,
    NodeRow,
)

ACTIVE_RUNS = tuple(s for s in RunState if s.active)
ACTIVE_RUN_STATES = [s.value for s in ACTIVE_RUNS]


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
            elif (
                row.capacity != dict(node.capacity)
                or row.labels != dict(node.labels)
                or m.taints_from_json(row.taints) != node.taints
            ):
                row.capacity = dict(node.capacity)
                row.labels = dict(node.labels)
                row.taints = m.taints_to_json(node.taints)
                row.updated_at = now
                self._s.add(row)
                changed = True
        return changed

    def nodes(self, cluster: str | None = None) -> list[Node]:
        # Columns, not row objects: every cycle reads every node of the pool.
        query = sa_select(
            col(NodeRow.cluster),
            col(NodeRow.name),
            col(NodeRow.capacity),
            col(NodeRow.labels),
            col(NodeRow.taints),
        ).order_by(col(NodeRow.cluster), col(NodeRow.name))
        if cluster is not None:
            query = query.where(col(NodeRow.cluster) == cluster)
        return [
            Node(c, name, dict(capacity), dict(labels), m.taints_from_json(taints))
            for c, name, capacity, labels, taints in self._s.execute(query)
        ]

    def _row(self, name: str) -> ClusterRow:
        row = self._s.get(ClusterRow, name)
        if row is None:
            raise NotFound(f"cluster {quote(name)} not found", field="name")
        return row


def _flush(session: Session, message: str, field: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(message, field=field) from exc
