"""The department tree, quotas and priority classes in domain terms. Never commits (see
Store.unit)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, or_
from sqlmodel import Session, col, select

from scheduler.domain.errors import AlreadyExists, NotFound, quote
from scheduler.domain.models import Department, Job
from scheduler.domain.quotas import (
    PriorityClass,
    QuotaGroup,
    ResourceQuota,
    selector_from_key,
    selector_key,
)
from scheduler.domain.states import JobState
from scheduler.state import mapping as m
from scheduler.state.tables import DepartmentRow, JobRow, PriorityClassRow, QuotaRow

# Jobs whose replicas hold resources: what quota usage counts.
HOLDING = (JobState.LEASED.value, JobState.RUNNING.value)


class DepartmentTree:
    """Subtrees and allowed priority classes of departments (create/get: Departments)."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def subtree(self, root: str) -> list[Department]:
        """`root` and its descendants, by name."""
        query = (
            select(DepartmentRow)
            .where(_in_subtree(col(DepartmentRow.name), root))
            .order_by(col(DepartmentRow.name))
        )
        return [m.department_from_row(r) for r in self._s.exec(query).all()]

    def lock(self, names: Collection[str]) -> None:
        """Locks these departments' rows (FOR UPDATE on PostgreSQL; SQLite's write
        transactions are serial already) in name order, which puts ancestors first."""
        for name in sorted(set(names)):
            self._s.exec(
                select(DepartmentRow.name).where(DepartmentRow.name == name).with_for_update()
            ).all()

    def children(self, name: str) -> list[str]:
        query = select(DepartmentRow.name).where(DepartmentRow.parent == name)
        return sorted(self._s.exec(query).all())

    def set_priority_classes(self, name: str, classes: Sequence[str]) -> Department:
        row = self._s.get(DepartmentRow, name)
        if row is None:
            raise NotFound(f"department {quote(name)} not found", field="department")
        row.priority_classes = list(classes)
        self._s.add(row)
        self._s.flush()
        return m.department_from_row(row)

    def holding_jobs(self, root: str) -> list[Job]:
        """LEASED and RUNNING jobs of `root`'s subtree: the replicas that use quota."""
        query = (
            select(JobRow)
            .where(col(JobRow.state).in_(HOLDING))
            .where(_in_subtree(col(JobRow.department), root))
        )
        return [m.job_from_row(r) for r in self._s.exec(query).all()]


class Quotas:
    def __init__(self, session: Session) -> None:
        self._s = session

    def replace(self, department: str, group: QuotaGroup, now: datetime) -> None:
        """Makes the department's quotas in `group`'s cluster group exactly `group.resources`
        (none: the group is removed). A resource whose triple is set again unchanged keeps its
        `changed_at` (a configuration tool re-applying the same quotas must not restart the
        reclaim delay); a new or changed one gets `now`."""
        key = group.key
        where = (col(QuotaRow.department) == department, col(QuotaRow.cluster_selector) == key)
        before = {r.resource: r for r in self._s.exec(select(QuotaRow).where(*where)).all()}
        kept = {
            q.resource: before[q.resource].changed_at
            for q in group.resources
            if q.resource in before and _triple(before[q.resource]) == _triple(q)
        }
        self._s.execute(delete(QuotaRow).where(*where))
        self._s.add_all(
            QuotaRow(
                department=department,
                cluster_selector=key,
                resource=q.resource,
                nominal=q.nominal,
                borrowing_limit=q.borrowing_limit,
                lending_limit=q.lending_limit,
                changed_at=kept.get(q.resource, now),
            )
            for q in group.resources
        )
        self._s.flush()

    def groups(self, department: str) -> list[QuotaGroup]:
        """The department's quota groups, the whole pool first and then by selector key, each
        with its resources by name (sorted here: database collations differ)."""
        rows = self._s.exec(
            select(QuotaRow)
            .where(QuotaRow.department == department)
            .order_by(col(QuotaRow.cluster_selector), col(QuotaRow.resource))
        ).all()
        by_key: dict[str, list[ResourceQuota]] = {}
        for r in rows:
            by_key.setdefault(r.cluster_selector, []).append(_quota(r))
        return [
            QuotaGroup(selector_from_key(k), tuple(sorted(v, key=lambda q: q.resource)))
            for k, v in sorted(by_key.items(), key=lambda kv: (kv[0] != "{}", kv[0]))
        ]

    def every_group(self) -> dict[str, list[QuotaGroup]]:
        """Every department's quota groups (as `groups`), for the scheduling cycle."""
        rows = self._s.exec(select(QuotaRow)).all()
        by_dept: dict[str, dict[str, list[ResourceQuota]]] = {}
        for r in rows:
            by_dept.setdefault(r.department, {}).setdefault(r.cluster_selector, []).append(
                _quota(r)
            )
        return {
            dept: [
                QuotaGroup(selector_from_key(k), tuple(sorted(v, key=lambda q: q.resource)))
                for k, v in sorted(keys.items(), key=lambda kv: (kv[0] != "{}", kv[0]))
            ]
            for dept, keys in sorted(by_dept.items())
        }

    def nominal(
        self, departments: Collection[str], selector: dict[str, str]
    ) -> dict[str, dict[str, int]]:
        """department -> resource -> nominal in one group, for those of `departments` with
        rows there."""
        if not departments:
            return {}
        rows = self._s.exec(
            select(QuotaRow).where(
                col(QuotaRow.department).in_(list(departments)),
                QuotaRow.cluster_selector == selector_key(selector),
            )
        ).all()
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r.department, {})[r.resource] = r.nominal
        return out


class PriorityClasses:
    def __init__(self, session: Session) -> None:
        self._s = session

    def create(self, pc: PriorityClass, now: datetime) -> PriorityClass:
        if self._s.get(PriorityClassRow, pc.name) is not None:
            raise AlreadyExists(f"priority class {quote(pc.name)} already exists", field="name")
        row = PriorityClassRow(
            name=pc.name,
            value=pc.value,
            preemptible=pc.preemptible,
            may_preempt=pc.may_preempt,
            description=pc.description,
            created_at=now,
        )
        self._s.add(row)
        self._s.flush()
        return _class(row)

    def get(self, name: str) -> PriorityClass | None:
        row = self._s.get(PriorityClassRow, name)
        return None if row is None else _class(row)

    def all(self) -> list[PriorityClass]:
        rows = self._s.exec(select(PriorityClassRow).order_by(col(PriorityClassRow.name))).all()
        return [_class(r) for r in rows]

    def any(self) -> bool:
        """Whether an admin has defined a priority class at all."""
        return self._s.exec(select(PriorityClassRow.name).limit(1)).first() is not None


def _in_subtree(column: Any, root: str) -> ColumnElement[bool]:
    # autoescape: '%' and '_' in a department name are literal, not LIKE wildcards.
    return or_(column == root, column.startswith(root + "/", autoescape=True))


def _triple(q: QuotaRow | ResourceQuota) -> tuple[int, int | None, int | None]:
    return (q.nominal, q.borrowing_limit, q.lending_limit)


def _quota(row: QuotaRow) -> ResourceQuota:
    return ResourceQuota(
        row.resource, row.nominal, row.borrowing_limit, row.lending_limit, m.utc(row.changed_at)
    )


def _class(row: PriorityClassRow) -> PriorityClass:
    return PriorityClass(
        name=row.name,
        value=row.value,
        preemptible=row.preemptible,
        may_preempt=row.may_preempt,
        description=row.description,
        created_at=m.utc(row.created_at),
    )
