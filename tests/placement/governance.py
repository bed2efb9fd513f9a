"""Hand-worked problems of issue 9's placement rules: scoped quotas, department-bound priority
preemption, may-preempt, reclaim and the eviction cap. Shared by the checker tests (core) and
the engine tests (cpsat)."""

from __future__ import annotations

from typing import Any

from scheduler.placement.model import Problem, Quota


def _problem(nodes: int, groups: tuple[int, ...], count: int, **changes: Any) -> Problem:
    """`nodes` 4-cpu nodes in `groups`, `count` 1-cpu queued jobs eligible everywhere."""
    base: dict[str, Any] = {
        "resources": ("cpu", "mem"),
        "node_capacity": ((4, 8),) * nodes,
        "node_group": groups,
        "group_cost": ((0, 0),) * (max(groups) + 1),
        "node_sets": (tuple(range(nodes)),),
        "job_demand": ((1, 1),) * count,
        "job_replicas": (1,) * count,
        "job_priority": (0,) * count,
        "job_order": tuple(range(count)),
        "job_nodes": (0,) * count,
    }
    base.update(changes)
    return Problem(**base)


def parent_quota() -> Problem:
    """Department 0 is the parent of 1 and 2; its quota (members 1, 2) allows 3 cpu in all,
    while each child's own quota allows 10: of the six 1-cpu jobs (three per child) on 8 free
    cpu, exactly 3 may run."""
    return _problem(
        2,
        (0, 0),
        6,
        job_department=(1, 1, 1, 2, 2, 2),
        quotas=(
            Quota(department=1, resource=0, nominal=10),
            Quota(department=2, resource=0, nominal=10),
            Quota(department=0, resource=0, nominal=3, members=(1, 2)),
        ),
    )


def group_quota() -> Problem:
    """Department 0 may use 1 cpu in group 0 (node 0); group 1 (node 1) has no quota: of six
    1-cpu jobs at most 1 runs on node 0 and 4 on node 1, 5 in all."""
    return _problem(
        2,
        (0, 1),
        6,
        job_department=(0,) * 6,
        quotas=(Quota(department=0, resource=0, nominal=1, groups=(0,)),),
    )


def preemption(
    departments: tuple[int, int], may_preempt: tuple[bool, ...] = (), **changes: Any
) -> Problem:
    """One 4-cpu node runs job 0 (priority 0, preemptible at cost 3, 4 cpu); queued job 1
    (priority 5, 4 cpu) can only run if job 0 is evicted."""
    base: dict[str, Any] = {
        "job_demand": ((4, 1), (4, 1)),
        "job_priority": (0, 5),
        "job_current": ((0,), None),
        "job_preempt_cost": (3, -1),
        "job_department": departments,
        "job_may_preempt": may_preempt,
    }
    base.update(changes)
    return _problem(1, (0,), 2, **base)


def reclaim_without_may_preempt() -> Problem:
    """Job 0's department 1 runs 4 cpu against a nominal of 2 (borrowing 2): its quota is
    reclaimed for job 1 of department 2, which may not preempt by priority."""
    return preemption(
        (1, 2),
        (True, False),
        quotas=(Quota(department=1, resource=0, nominal=2, borrow_limit=2),),
    )


def eviction_cap(cap: int) -> Problem:
    """Three 4-cpu nodes each run a priority-0 preemptible 4-cpu job of department 0; three
    queued priority-5 jobs of the same department need a whole node each. Without a cap all
    three running jobs would be evicted (more work); `cap` bounds how many may be."""
    running: tuple[tuple[int, ...] | None, ...] = ((0,), (1,), (2,), None, None, None)
    return _problem(
        3,
        (0, 0, 0),
        6,
        job_demand=((4, 1),) * 6,
        job_priority=(0, 0, 0, 5, 5, 5),
        job_current=running,
        job_preempt_cost=(3, 3, 3, -1, -1, -1),
        job_department=(0,) * 6,
        max_evictions=cap,
    )


def reclaim_budget() -> Problem:
    """Department 1 runs four 1-cpu jobs (0-3) on the one 4-cpu node against a nominal of 2:
    it borrows 2, so reclaim may take at most 2 + 1 (its largest job) = 3 cpu back. Department
    2 (no quota) queues a 4-cpu job (4) and three 1-cpu jobs (5-7), all of priority 5."""
    running: tuple[tuple[int, ...] | None, ...] = ((0,),) * 4 + (None,) * 4
    return _problem(
        1,
        (0,),
        8,
        job_demand=((1, 1),) * 4 + ((4, 1),) + ((1, 1),) * 3,
        job_priority=(0,) * 4 + (5,) * 4,
        job_current=running,
        job_preempt_cost=(3,) * 4 + (-1,) * 4,
        job_department=(1,) * 4 + (2,) * 4,
        quotas=(Quota(department=1, resource=0, nominal=2, borrow_limit=2),),
    )
