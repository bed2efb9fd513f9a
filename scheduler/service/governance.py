"""Governance use cases: reading a department with its quotas and usage, setting quotas,
priority classes and which of them a department may use.

Usage is computed from the store on every read (no cache): the resources of the replicas of
the LEASED and RUNNING jobs of the department's subtree, per cluster group on the clusters the
group's selector picks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from scheduler.domain.errors import InvalidSpec, NotFound, PermissionDenied, quote
from scheduler.domain.models import Department, Job, JobSpec
from scheduler.domain.quotas import (
    MAX_GROUPS,
    DepartmentStatus,
    GroupUsage,
    PriorityClass,
    QuotaGroup,
    ResourceQuota,
    check_hierarchy,
    cluster_group_labels,
    in_subtree,
    selector_key,
    selects,
    usage_by_group,
    validate_class_names,
    validate_priority_class,
    validate_quotas,
    validate_selector,
)
from scheduler.domain.resources import add
from scheduler.domain.security import Principal, Role
from scheduler.domain.states import JobState
from scheduler.service.clock import Clock
from scheduler.service.policy import lent_now
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store, Tx

MAX_FAIR_SHARE_WEIGHT = 10_000


def visible(caller: Principal, name: str) -> bool:
    """Admins and operators read every department; a department its own subtree."""
    if caller.role in (Role.ADMIN, Role.OPERATOR):
        return True
    return caller.role is Role.DEPARTMENT and in_subtree(name, caller.name)


class GovernanceService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        reclaim_delay_s: float = SchedulerSettings.quota_reclaim_delay_s,
    ) -> None:
        self._store = store
        self._clock = clock
        # For GetDepartment's reclaim_at of a quota lowered below its use (the cycle's own).
        self._reclaim_delay_s = reclaim_delay_s

    # -- departments ---------------------------------------------------------------------

    def get_department(self, caller: Principal, name: str) -> DepartmentStatus:
        """NOT_FOUND for a department outside the caller's view, as for one that does not
        exist, so names cannot be probed."""
        if not name:
            raise InvalidSpec("is required", field="name")
        if len(name) > 64 or not visible(caller, name):
            raise NotFound(f"department {quote(name)} not found", field="name")
        with self._store.unit(write=False) as tx:
            return self._status(tx, tx.departments.get(name))

    def set_quota(
        self, department: str, selector: Mapping[str, str], quotas: Sequence[ResourceQuota]
    ) -> DepartmentStatus:
        """Replaces the department's quotas in one cluster group, atomically; an empty list
        removes the group."""
        group = QuotaGroup(
            validate_selector(selector, "cluster_selector"), tuple(validate_quotas(quotas))
        )
        with self._store.unit() as tx:
            dept = self._department(tx, department)
            # Two siblings' (or a parent's and a child's) concurrent writes each check a sum
            # the other changes: both lock the parent's row, so the second sees the first.
            tx.tree.lock([n for n in (dept.parent, department) if n])
            known = {g.key for g in tx.quotas.groups(department)}
            if group.key not in known and len(known) >= MAX_GROUPS:
                raise InvalidSpec(
                    f"at most {MAX_GROUPS} cluster groups per department", field="cluster_selector"
                )
            children = tx.tree.children(department)
            parent_nominal = None
            siblings: dict[str, dict[str, int]] = {}
            if dept.parent:
                parent_nominal = tx.quotas.nominal([dept.parent], dict(group.selector)).get(
                    dept.parent, {}
                )
                others = [c for c in tx.tree.children(dept.parent) if c != department]
                siblings = tx.quotas.nominal(others, dict(group.selector))
            check_hierarchy(
                department,
                list(quotas),  # the request's order: errors name quotas[i] as sent
                dept.parent,
                parent_nominal,
                siblings,
                tx.quotas.nominal(children, dict(group.selector)),
            )
            tx.quotas.replace(department, group, self._clock.now())
            return self._status(tx, dept)

    def set_priority_classes(self, department: str, names: Sequence[str]) -> Department:
        """Replaces the priority classes the department's jobs may name; each must exist."""
        clean = validate_class_names(names, "priority_classes")
        with self._store.unit() as tx:
            self._department(tx, department)
            for i, name in enumerate(names):
                if tx.priority_classes.get(name) is None:
                    raise NotFound(
                        f"priority class {quote(name)} not found", field=f"priority_classes[{i}]"
                    )
            return tx.tree.set_priority_classes(department, clean)

    def set_fair_share_weight(self, department: str, weight: int) -> Department:
        """The department's fair-share weight against its siblings (scheduler.service.policy)."""
        if not 1 <= weight <= MAX_FAIR_SHARE_WEIGHT:
            raise InvalidSpec(f"must be 1-{MAX_FAIR_SHARE_WEIGHT}, got {weight}", field="weight")
        with self._store.unit() as tx:
            self._department(tx, department)
            return tx.fair_share.set_weight(department, weight)

    # -- priority classes ------------------------------------------------------------------

    def create_priority_class(self, pc: PriorityClass) -> PriorityClass:
        validate_priority_class(pc)
        with self._store.unit() as tx:
            return tx.priority_classes.create(pc, self._clock.now())

    def list_priority_classes(self) -> list[PriorityClass]:
        with self._store.unit(write=False) as tx:
            return tx.priority_classes.all()

    # -- helpers -----------------------------------------------------------------------------

    def _department(self, tx: Tx, name: str) -> Department:
        if not name:
            raise InvalidSpec("is required", field="department")
        if len(name) > 64 or not tx.departments.exists(name):
            raise NotFound(f"department {quote(name)} not found", field="department")
        return tx.departments.get(name)

    def _status(self, tx: Tx, dept: Department) -> DepartmentStatus:
        groups = tx.quotas.groups(dept.name)
        jobs = tx.tree.holding_jobs(dept.name)
        decayed = sum(u for d, (u, _) in tx.fair_share.usage().items() if in_subtree(d, dept.name))
        labels = {
            c.name: cluster_group_labels(
                c.spec.labels, c.spec.xinchuang, c.spec.region, c.spec.security_level
            )
            for c in tx.clusters.all()
        }
        pool: dict[str, int] = {}
        used: dict[str, dict[str, int]] = {g.key: {} for g in groups}
        for job in jobs:
            pool = add(pool, job.spec.resources, job.spec.replicas)
            for g in groups:
                if selects(g.selector, labels.get(job.cluster, {})):
                    used[g.key] = add(used[g.key], job.spec.resources, job.spec.replicas)
        return DepartmentStatus(
            name=dept.name,
            display_name=dept.display_name,
            parent=dept.parent,
            created_at=dept.created_at,
            priority_classes=dept.priority_classes,
            groups=_with_lent(
                tx, dept.name, usage_by_group(groups, used, self._reclaim_delay_s), labels
            ),
            usage=pool,
            fair_share_weight=dept.fair_share_weight,
            decayed_usage=decayed,
        )


def resolve_priority_class(
    tx: Tx,
    department: str,
    spec: JobSpec,
    previous: Job | None = None,
    classes_exist: bool | None = None,
) -> JobSpec:
    """The spec with its priority taken from its class.

    INVALID_ARGUMENT for an unknown class or a bare priority that contradicts the class's
    value; PERMISSION_DENIED for a class the department is not allowed. Once an admin has
    defined priority classes a job names one: a bare non-zero priority is INVALID_ARGUMENT
    on `priority` (it would rank a department's work above the classes it is allowed, for
    borrowed room too; scheduler.service.policy). A job without a class runs at 0 and is
    preemptible (scheduler.service.preemption). Before any class exists a bare priority is
    the only one there is and passes unchanged. `previous` is the job already submitted under
    the spec's client_id: a resubmit resolves as it did then, so it is still recognised as
    the same job after a class was withdrawn or the first class was defined.
    `classes_exist`: whether any class exists, if the caller already asked (once per
    request); None: asked here when it matters.
    """
    if not spec.priority_class:
        if spec.priority == 0 or (
            previous is not None
            and not previous.spec.priority_class
            and previous.spec.priority == spec.priority
        ):
            return spec
        if classes_exist if classes_exist is not None else tx.priority_classes.any():
            raise InvalidSpec(
                f"is {spec.priority} without a priority_class; this pool has priority classes, "
                "so a job names one of its department's (or sends no priority)",
                field="priority",
            )
        return spec
    if (
        previous is not None
        and previous.spec.priority_class == spec.priority_class
        and spec.priority in (0, previous.spec.priority)
    ):
        return replace(spec, priority=previous.spec.priority)
    pc = tx.priority_classes.get(spec.priority_class)
    if pc is None:
        raise InvalidSpec(
            f"priority class {quote(spec.priority_class)} does not exist", field="priority_class"
        )
    if pc.name not in tx.departments.get(department).priority_classes:
        raise PermissionDenied(
            f"department {quote(department)} may not use priority class {quote(pc.name)}",
            field="priority_class",
        )
    if spec.priority not in (0, pc.value):
        raise InvalidSpec(
            f"is {spec.priority} but priority class {quote(pc.name)} has value {pc.value}; "
            "give one or the other",
            field="priority",
        )
    return replace(spec, priority=pc.value)


def _with_lent(
    tx: Tx, name: str, groups: tuple[GroupUsage, ...], labels: Mapping[str, Mapping[str, str]]
) -> tuple[GroupUsage, ...]:
    """Each quota with what it lends now (scheduler.service.policy.lent_now); the others'
    rows and use are read only when the department has idle nominal to lend at all."""
    if not any(u.quota.nominal > u.used for g in groups for u in g.resources):
        return groups
    every = tx.quotas.every_group()
    holding = tx.jobs.in_states((JobState.LEASED, JobState.RUNNING))
    out = []
    for g in groups:
        key = selector_key(g.selector)
        clusters = {c for c, lab in labels.items() if selects(g.selector, lab)}
        peers = {
            d: {q.resource: q.nominal for q in og.resources}
            for d, dgroups in every.items()
            for og in dgroups
            if og.key == key and not in_subtree(d, name) and not in_subtree(name, d)
        }
        use: dict[str, dict[str, int]] = {}
        for job in holding:
            if job.cluster in clusters:
                use[job.department] = add(
                    use.get(job.department, {}), job.spec.resources, job.spec.replicas
                )
        resources = []
        for u in g.resources:
            nominal = {d: n[u.resource] for d, n in peers.items() if u.resource in n}
            used = {
                d: sum(q.get(u.resource, 0) for o, q in use.items() if in_subtree(o, d))
                for d in nominal
            }
            resources.append(replace(u, lent=lent_now(u.quota, u.used, nominal, used)))
        out.append(GroupUsage(g.selector, tuple(resources)))
    return tuple(out)
