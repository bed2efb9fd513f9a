"""Builders for small placement problems: name only what a test is about."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.placement import Problem, SolveParams

# Tiny instances solve to optimality in milliseconds; the limit only guards against regressions.
FAST = SolveParams(time_limit_s=0.5)


def make_problem(
    *,
    free: Sequence[Sequence[int]],
    demand: Sequence[Sequence[int]],
    capacity: Sequence[Sequence[int]] | None = None,
    groups: Sequence[int] | None = None,
    prices: Sequence[Sequence[int]] | None = None,
    replicas: Sequence[int] | None = None,
    priority: Sequence[int] | None = None,
    order: Sequence[int] | None = None,
    eligible: Sequence[Sequence[int]] | None = None,
    resources: Sequence[str] | None = None,
    node_names: Sequence[str] = (),
    group_names: Sequence[str] = (),
) -> Problem:
    """A Problem with defaults: capacity = free, one group, free prices, single replicas,
    priority 0, FIFO by index, every node eligible, resources cpu, memory, gpu."""
    width = len(resources) if resources else len(free[0]) if free else len(demand[0])
    n, j = len(free), len(demand)
    groups = tuple(groups) if groups is not None else (0,) * n
    num_groups = max(groups, default=0) + 1
    return Problem(
        resources=tuple(resources or ("cpu", "memory", "gpu")[:width]),
        node_free=tuple(tuple(row) for row in free),
        node_capacity=tuple(tuple(row) for row in (capacity if capacity is not None else free)),
        node_group=groups,
        group_cost=tuple(tuple(row) for row in (prices or [(0,) * width] * num_groups)),
        job_demand=tuple(tuple(row) for row in demand),
        job_replicas=tuple(replicas or (1,) * j),
        job_priority=tuple(priority or (0,) * j),
        job_order=tuple(order if order is not None else range(j)),
        job_eligible=tuple(
            tuple(e) for e in (eligible if eligible is not None else [range(n)] * j)
        ),
        node_names=tuple(node_names),
        group_names=tuple(group_names),
    )


def placed(assignment: Sequence[Sequence[int] | None]) -> set[int]:
    """Indices of the jobs an assignment places."""
    return {j for j, nodes in enumerate(assignment) if nodes is not None}
