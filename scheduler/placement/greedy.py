"""Greedy baselines: the warm start and fallback of the solver, and a yardstick for benchmarks.

Jobs go in priority-then-FIFO order; each job tries its eligible groups cheapest-first and takes
the first group that holds the whole gang, choosing a node for each replica by the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from scheduler.placement.capacity import eligible_by_group, fit_count, leftover, resource_norms
from scheduler.placement.objective import AssignmentLike, unit_costs
from scheduler.placement.problem import Problem
from scheduler.placement.result import Assignment

_SCORE_SCALE = 1000


class GreedyRule(StrEnum):
    BEST_FIT = "BEST_FIT"  # tightest node: keeps whole nodes free for big jobs that come later
    FIRST_FIT = "FIRST_FIT"  # lowest node index: cheap, predictable
    WORST_FIT = "WORST_FIT"  # emptiest node: spreads load


def rank(p: Problem) -> list[int]:
    """Job indices in scheduling order: higher priority first, then older (smaller order)."""
    return sorted(range(p.num_jobs), key=lambda j: (-p.job_priority[j], p.job_order[j], j))


def greedy(p: Problem, rule: GreedyRule = GreedyRule.BEST_FIT) -> Assignment:
    """A feasible assignment built job by job in priority-then-FIFO order."""
    return fill(p, (None,) * p.num_jobs, rule)


def fill(
    p: Problem, assignment: AssignmentLike, rule: GreedyRule = GreedyRule.BEST_FIT
) -> Assignment:
    """`assignment` plus every unplaced job that fits in what it leaves free, in rank order.

    Placing a job that fits always raises the objective (its work outweighs any cost), so this
    also repairs solutions that a time-limited search left short.
    """
    free = leftover(p, assignment)
    norms = resource_norms(p)
    costs = unit_costs(p)
    out: list[tuple[int, ...] | None] = [
        None if nodes is None else tuple(sorted(nodes)) for nodes in assignment
    ]
    for j in rank(p):
        if out[j] is not None:
            continue
        by_group = eligible_by_group(p, j)
        for g in sorted(by_group, key=lambda g: (costs[j][g], g)):
            placed = _place_gang(p, j, by_group[g], free, norms, rule)
            if placed is not None:
                out[j] = placed
                break
    return tuple(out)


def _place_gang(
    p: Problem,
    job: int,
    nodes: Sequence[int],
    free: list[list[int]],
    norms: Sequence[int],
    rule: GreedyRule,
) -> tuple[int, ...] | None:
    """Places all replicas on `nodes` (updating `free`) or returns None and leaves `free` as is."""
    demand = p.job_demand[job]
    replicas = p.job_replicas[job]
    if sum(fit_count(demand, free[n], replicas) for n in nodes) < replicas:
        return None
    trial = {n: list(free[n]) for n in nodes}
    chosen: list[int] = []
    for _ in range(replicas):
        best: int | None = None
        best_key: tuple[int, int] | None = None
        for n in nodes:
            if fit_count(demand, trial[n], 1) == 0:
                continue
            key = (_score(demand, trial[n], norms, rule), n)
            if best_key is None or key < best_key:
                best, best_key = n, key
        # The capacity pre-check above guarantees a node for every replica.
        assert best is not None
        row = trial[best]
        for r, d in enumerate(demand):
            row[r] -= d
        chosen.append(best)
    for n, row in trial.items():
        free[n] = row
    return tuple(sorted(chosen))


def _score(
    demand: Sequence[int], free: Sequence[int], norms: Sequence[int], rule: GreedyRule
) -> int:
    """Smaller is preferred; ties go to the lower node index."""
    if rule is GreedyRule.FIRST_FIT:
        return 0
    # Normalised slack left on the node after this replica, summed over resources.
    slack = sum(
        (f - d) * _SCORE_SCALE // norm
        for d, f, norm in zip(demand, free, norms, strict=True)
        if norm
    )
    return slack if rule is GreedyRule.BEST_FIT else -slack
