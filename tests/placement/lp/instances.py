"""Tiny random problems and a brute-force optimum, for the LP bound and its rounding.

The brute force enumerates every answer of a problem without GPU devices or services (those
need device ids and relations the enumeration does not model) and keeps the best one the
independent checker accepts, valued by the independent evaluator.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Override, Problem, Quota, Solution


def tiny_problem(seed: int) -> Problem:
    """Up to 3 nodes in up to 2 groups and 4 jobs: gangs, node sets, prices, overrides,
    quotas, open costs, required jobs and a running job that may be fixed, movable or
    preemptible."""
    rng = random.Random(seed)
    nodes = rng.randint(1, 3)
    groups = rng.randint(1, min(2, nodes))
    group_of = tuple(rng.randrange(groups) for _ in range(nodes))
    capacity = tuple((rng.randint(2, 8), rng.randint(2, 8)) for _ in range(nodes))
    jobs = rng.randint(1, 4)
    demand = tuple((rng.randint(0, 4), rng.randint(1, 4)) for _ in range(jobs))
    replicas = tuple(rng.choice((1, 1, 2)) for _ in range(jobs))
    sets = tuple(
        sorted({tuple(n for n in range(nodes) if rng.random() < 0.8) or (0,) for _ in range(2)})
    )
    types = tuple(rng.randrange(2) for _ in range(nodes))
    overrides = tuple(
        Override(
            job=j,
            node_type=1,
            demand=(rng.randint(0, 3), rng.randint(1, 3)) if rng.random() < 0.5 else None,
            cost=rng.randint(0, 9) if rng.random() < 0.5 else None,
        )
        for j in range(jobs)
        if rng.random() < 0.3
    )
    departments = tuple(rng.randrange(-1, 2) for _ in range(jobs))
    p = Problem(
        resources=("cpu", "mem"),
        node_capacity=capacity,
        node_group=group_of,
        group_cost=tuple((rng.randint(0, 3), rng.randint(0, 3)) for _ in range(groups)),
        node_sets=sets,
        job_demand=demand,
        job_replicas=replicas,
        job_priority=tuple(rng.choice((0, 1, 5)) for _ in range(jobs)),
        job_order=tuple(rng.sample(range(50), jobs)),
        job_nodes=tuple(rng.randrange(len(sets)) for _ in range(jobs)),
        node_type=types,
        node_open_cost=tuple(rng.choice((0, 0, 3)) for _ in range(nodes)),
        overrides=overrides,
        job_department=departments,
        quotas=(Quota(0, 1, rng.randint(2, 8), rng.randint(0, 2)),) if rng.random() < 0.5 else (),
        job_required=tuple(rng.random() < 0.1 for _ in range(jobs)),
    )
    return _with_running(rng, p)


def _with_running(rng: random.Random, p: Problem) -> Problem:
    """Job 0 running where it fits, if it fits somewhere eligible: fixed, movable or
    preemptible."""
    for n in p.node_sets[p.job_nodes[0]]:
        current = (n,) * p.job_replicas[0]
        candidate = _replace_jobs(
            p,
            job_current=(current,) + (None,) * (p.num_jobs - 1),
            job_move_cost=(rng.choice((-1, 2)),) + (-1,) * (p.num_jobs - 1),
            job_preempt_cost=(rng.choice((-1, 4)),) + (-1,) * (p.num_jobs - 1),
        )
        keep = Solution(candidate.job_current)
        if not check(candidate, keep):
            return candidate
    return p


def _replace_jobs(p: Problem, **changes: object) -> Problem:
    from dataclasses import replace

    return replace(p, **changes)  # type: ignore[arg-type]


def answers(p: Problem) -> Iterator[Solution]:
    """Every assignment: each job unplaced or on a multiset of eligible nodes of one group."""
    options: list[list[tuple[int, ...] | None]] = []
    for j in range(p.num_jobs):
        eligible = p.node_sets[p.job_nodes[j]]
        mine: list[tuple[int, ...] | None] = [None]
        for g in sorted({p.node_group[n] for n in eligible}):
            pool = [n for n in eligible if p.node_group[n] == g]
            mine.extend(itertools.combinations_with_replacement(pool, p.job_replicas[j]))
        options.append(mine)
    for combo in itertools.product(*options):
        yield Solution(tuple(combo))


def optimum(p: Problem, weights: ObjectiveWeights) -> int | None:
    """The best value of any answer the checker accepts (None if there is none)."""
    best: int | None = None
    for s in answers(p):
        if check(p, s):
            continue
        value = evaluate(p, s, weights).value
        if best is None or value > best:
            best = value
    return best
