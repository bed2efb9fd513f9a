"""The scale of the objective (evaluator.py's module docstring): the work of each job, upper bounds
of the cost terms, and the work weight that makes placing work dominate every cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul
from typing import TYPE_CHECKING

from scheduler.placement.model.problem import ObjectiveWeights

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem

SIZE_SCALE = 1000
VALUE_LIMIT = 1 << 62
# Default weights as a module-level value: a frozen dataclass, shared safely.
DEFAULT_WEIGHTS = ObjectiveWeights()
COST_TERMS = ("preemption", "migration", "money", "energy", "load", "balance", "fragmentation")


@dataclass(frozen=True)
class ObjectiveScale:
    """How the cost terms are weighed against work for one problem (module docstring)."""

    work_weight: int
    cost_unit: int
    cost_bound: int  # B: the weighted sum of the cost upper bounds (0 for explicit work weights)


def job_size(p: Problem) -> tuple[int, ...]:
    """Per-replica size of each job: its base demand relative to the largest, per resource,
    weighed by the problem's resource values (1 each by default)."""
    columns = list(zip(*p.job_demand, strict=True))
    if not columns:
        return ()
    values = p.resource_value or (1,) * p.num_resources
    # Column by column: C-level passes instead of a Python loop per job and resource.
    parts = [
        [-(-scale * d // norm) for d in column]
        for column, value in zip(columns, values, strict=True)
        if (norm := max(column)) > 0 and (scale := SIZE_SCALE * value) > 0
    ]
    if not parts:
        return (1,) * p.num_jobs
    return tuple(size if size > 1 else 1 for size in map(sum, zip(*parts, strict=True)))


def job_work(p: Problem) -> tuple[int, ...]:
    """Work of each job if placed: (priority + 1) * replicas * size, the objective's first term."""
    return tuple(
        (prio + 1) * reps * size
        for prio, reps, size in zip(p.job_priority, p.job_replicas, job_size(p), strict=True)
    )


def _check_weights(weights: ObjectiveWeights) -> None:
    for name in ("work", *COST_TERMS):
        w = getattr(weights, name)
        if w is not None and (type(w) is not int or w < 0):
            raise ValueError(f"objective weight {name} must be a non-negative int, got {w!r}")


def cost_bounds(p: Problem) -> dict[str, int]:
    """Upper bound of each cost term over all feasible answers (module docstring, UB_t)."""
    running = p.job_current or (None,) * p.num_jobs
    preempt = p.job_preempt_cost or (-1,) * p.num_jobs
    move = p.job_move_cost or (-1,) * p.num_jobs
    reps = p.job_replicas
    row_max: dict[int, int] = {}

    def leave_cost(node: int) -> int:
        if node not in row_max:
            row_max[node] = max(p.node_move_cost[node]) if p.node_move_cost else 0
        return row_max[node]

    preemption = sum(
        c for cur, c in zip(running, preempt, strict=True) if cur is not None and c > 0
    )
    migration = 0
    movable = [0] * p.num_jobs
    for j, cur in enumerate(running):
        if cur is not None and move[j] >= 0:
            movable[j] = reps[j]
            migration += reps[j] * move[j] + reps[j] * max(leave_cost(n) for n in cur)
    if p.service_move_weight and p.services:
        migration += p.service_move_weight * max(
            sum(movable[j] for j in svc.jobs) for svc in p.services
        )
    return {
        "preemption": preemption,
        "migration": migration,
        "money": _money_bound(p),
        "energy": sum(p.node_open_cost),
        "load": _load_bound(p),
        "balance": _balance_bound(p),
        "fragmentation": sum(p.node_devices),
    }


def _money_bound(p: Problem) -> int:
    width = p.num_resources
    # Per node set, the dearest price per resource among its groups: O(size of the node sets).
    dearest: list[list[int]] = []
    for nodes in p.node_sets:
        groups = {p.node_group[n] for n in nodes}
        dearest.append([max((p.group_cost[g][r] for g in groups), default=0) for r in range(width)])
    extra_demand: dict[int, list[int]] = {}
    extra_cost: dict[int, int] = {}
    for o in p.overrides:
        if o.demand is not None:
            row = extra_demand.setdefault(o.job, list(p.job_demand[o.job]))
            for r, d in enumerate(o.demand):
                row[r] = max(row[r], d)
        if o.cost is not None:
            extra_cost[o.job] = max(extra_cost.get(o.job, 0), o.cost)
    per_replica = [
        sum(map(mul, extra_demand.get(j, demand), dearest[ns]))
        for j, (demand, ns) in enumerate(zip(p.job_demand, p.job_nodes, strict=True))
    ]
    for j, cost in extra_cost.items():
        per_replica[j] = max(per_replica[j], cost)
    # A job whose node set is empty is never placed; its dearest prices are all 0 anyway.
    return sum(map(mul, per_replica, p.job_replicas))


def _load_bound(p: Problem) -> int:
    if not any(p.load_weight):
        return 0
    safety = p.node_safety or p.node_capacity
    return sum(
        w * max(0, c - s)
        for caps, safe in zip(p.node_capacity, safety, strict=True)
        for w, c, s in zip(p.load_weight, caps, safe, strict=True)
        if w
    )


def _balance_bound(p: Problem) -> int:
    total = 0
    for b in p.balances:
        if not b.weight or not b.target:
            continue
        room = sum(caps[b.r1] for caps in p.node_capacity) - sum(
            used[b.r1] for used in p.node_reserved
        )
        total += b.weight * b.target * room
    return total


def objective_scale(p: Problem, weights: ObjectiveWeights = DEFAULT_WEIGHTS) -> ObjectiveScale:
    """The work weight and cost unit `evaluate` uses for `p` (module docstring)."""
    return scale_of(p, weights, job_work(p))


def scale_of(p: Problem, weights: ObjectiveWeights, work: Sequence[int]) -> ObjectiveScale:
    _check_weights(weights)
    if weights.work is not None:
        return ObjectiveScale(work_weight=weights.work, cost_unit=1, cost_bound=0)
    bounds = cost_bounds(p)
    bound = sum(getattr(weights, t) * bounds[t] for t in COST_TERMS)
    total_work = max(1, sum(work))
    unit = 1
    while (1 + bound // unit) * total_work > VALUE_LIMIT:
        unit *= 2
    return ObjectiveScale(work_weight=1 + bound // unit, cost_unit=unit, cost_bound=bound)
