"""The objective every engine is judged by, and its independent evaluator (no solver imports).

    value  = sum over placed jobs j of  BIG * work_j - cost_j            (maximised)

    work_j = (priority_j + 1) * replicas_j * size_j
    size_j = max(1, sum over r of ceil(SIZE_SCALE * demand_jr / norm_r))
             norm_r = the largest demand for resource r among this problem's jobs
    cost_j = sum over replicas of floor(replica_price / COST_UNIT)
             replica_price = sum over r of demand_jr * price[group of the replica's node][r]
    BIG    = 1 + sum over jobs of replicas_j * (dearest eligible group's cost per replica)

Lexicographic: no assignment can cost BIG or more, so one more unit of priority-weighted work
outweighs any cost saving (most work first, then cheapest).

COST_UNIT is 1 unless BIG * (total work) would exceed 2^53; then it is the smallest power of two
that keeps it below. So every value fits a double exactly (CP-SAT reports values and bounds as
doubles, and JSON consumers read numbers as doubles) and int64 with room to spare. Realistic
prices (micro-yuan per unit-hour) need a unit of a few hundred micro-yuan at most, far below the
price difference of any real job between two clusters.

Nothing in the weights depends on capacity: sizes are measured against the cycle's largest
request (not the pool or the largest node), and BIG against job prices. So adding capacity can
never lower the optimum, and objectives of one queue stay comparable as clusters come and go.
Each resource counts equally in size: the largest GPU request weighs as much as the largest cpu
one. Priority is a weight, not strict precedence: a priority-9 job outweighs up to ten equal-sized
priority-0 jobs, and a much larger lower-priority job can outweigh a small higher-priority one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.placement.problem import Problem

SIZE_SCALE = 1000
EXACT_LIMIT = 1 << 53

# Hand-made assignments (tests, checkers) may be lists; engines return tuples.
AssignmentLike = Sequence[Sequence[int] | None]


def job_size(p: Problem) -> tuple[int, ...]:
    """Per-replica size of each job: its demand relative to the cycle's largest, per resource."""
    norms = [max((d[r] for d in p.job_demand), default=0) for r in range(p.num_resources)]
    return tuple(
        max(1, sum(-(-SIZE_SCALE * d // norm) for d, norm in zip(demand, norms, strict=True) if d))
        for demand in p.job_demand
    )


def job_work(p: Problem) -> tuple[int, ...]:
    """Priority-weighted work of each job, the first (dominant) term of the objective."""
    return tuple(
        (prio + 1) * reps * size
        for prio, reps, size in zip(p.job_priority, p.job_replicas, job_size(p), strict=True)
    )


def unit_costs(p: Problem) -> tuple[tuple[int, ...], ...]:
    """[J][G] price of one replica of job j in group g, in the problem's own price units."""
    return tuple(
        tuple(
            sum(d * price for d, price in zip(demand, prices, strict=True))
            for prices in p.group_cost
        )
        for demand in p.job_demand
    )


@dataclass(frozen=True)
class Weights:
    """The objective's coefficients for one problem."""

    work: tuple[int, ...]  # [J]
    replica_cost: tuple[tuple[int, ...], ...]  # [J][G] cost of one replica, in cost units
    cost_unit: int
    big: int

    def job_value(self, p: Problem, job: int, group: int) -> int:
        """Objective contribution of placing `job` entirely in `group`."""
        return self.big * self.work[job] - p.job_replicas[job] * self.replica_cost[job][group]


def weights(p: Problem) -> Weights:
    work = job_work(p)
    prices = unit_costs(p)
    # Dearest eligible group per replica: what BIG must exceed, whatever the assignment.
    dearest = [
        max((prices[j][p.node_group[n]] for n in eligible), default=0)
        for j, eligible in enumerate(p.job_eligible)
    ]
    # Problem validation caps total work far below the limit, so some unit always fits.
    room = EXACT_LIMIT // max(1, sum(work)) - 1
    unit = 1
    # floor(max / unit) == max of floors, so the scaled bound is computed from `dearest` alone.
    while sum(r * (d // unit) for r, d in zip(p.job_replicas, dearest, strict=True)) > room:
        unit *= 2
    cost_bound = sum(r * (d // unit) for r, d in zip(p.job_replicas, dearest, strict=True))
    return Weights(
        work=work,
        replica_cost=tuple(tuple(c // unit for c in row) for row in prices),
        cost_unit=unit,
        big=cost_bound + 1,
    )


def evaluate(p: Problem, assignment: AssignmentLike) -> int:
    """Objective value of `assignment`, computed replica by replica; feasibility is `check`'s job.

    Raises ValueError if the assignment does not even have the problem's shape.
    """
    if len(assignment) != p.num_jobs:
        raise ValueError(f"assignment has {len(assignment)} entries, expected {p.num_jobs}")
    w = weights(p)
    total = 0
    for j, nodes in enumerate(assignment):
        if nodes is None:
            continue
        total += w.big * w.work[j]
        for n in nodes:
            if not 0 <= n < p.num_nodes:
                raise ValueError(f"job {j}: node {n} does not exist")
            total -= w.replica_cost[j][p.node_group[n]]
    return total
