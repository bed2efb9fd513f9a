"""Property tests on small random problems: soundness, optimality and invariances of solve()."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scheduler.placement import GreedyRule, Problem, Status, check, evaluate, greedy, solve
from tests.placement.cases import FAST

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(
    draw: st.DrawFn, max_nodes: int = 4, max_jobs: int = 6, max_replicas: int = 3
) -> Problem:
    """Small problems with real contention: more demand than capacity, mostly eligible nodes."""
    width = draw(st.integers(1, 2))
    nodes = draw(st.integers(1, max_nodes))
    num_groups = draw(st.integers(1, 3))
    capacity = [tuple(draw(st.integers(0, 8)) for _ in range(width)) for _ in range(nodes)]
    free = [tuple(draw(st.integers(c // 2, c)) for c in row) for row in capacity]
    jobs = draw(st.integers(1, max_jobs))
    demand = []
    for _ in range(jobs):
        row = [draw(st.integers(0, 4)) for _ in range(width)]
        if not any(row):
            row[draw(st.integers(0, width - 1))] = draw(st.integers(1, 4))
        demand.append(tuple(row))
    mostly = st.sampled_from([True, True, True, False])
    return Problem(
        resources=("cpu", "memory")[:width],
        node_free=tuple(free),
        node_capacity=tuple(capacity),
        node_group=tuple(draw(st.integers(0, num_groups - 1)) for _ in range(nodes)),
        group_cost=tuple(
            tuple(draw(st.integers(0, 4)) for _ in range(width)) for _ in range(num_groups)
        ),
        job_demand=tuple(demand),
        job_replicas=tuple(draw(st.integers(1, max_replicas)) for _ in range(jobs)),
        job_priority=tuple(draw(st.sampled_from([0, 0, 1, 2, 1000])) for _ in range(jobs)),
        job_order=tuple(draw(st.permutations(range(jobs)))),
        job_eligible=tuple(tuple(n for n in range(nodes) if draw(mostly)) for _ in range(jobs)),
    )


def _all_assignments(p: Problem) -> Iterator[tuple[tuple[int, ...] | None, ...]]:
    """Every assignment with the right replica counts on eligible nodes (feasible or not)."""
    options = [
        [None, *itertools.combinations_with_replacement(sorted(eligible), reps)]
        for eligible, reps in zip(p.job_eligible, p.job_replicas, strict=True)
    ]
    yield from itertools.product(*options)


@SETTINGS
@given(problems())
def test_answers_are_feasible_and_scored_honestly(p: Problem) -> None:
    """Every answer passes the checker, its objective is the evaluator's, and it beats greedy."""
    r = solve(p, FAST)
    assert check(p, r.assignment) == []
    assert r.objective == evaluate(p, r.assignment)
    assert r.greedy_objective == evaluate(p, greedy(p))
    assert r.greedy_objective <= r.objective <= r.bound
    assert (r.status is Status.OPTIMAL) == (r.objective == r.bound)
    assert {u.job for u in r.unplaced} == {j for j, a in enumerate(r.assignment) if a is None}
    assert r.notes == ()


@SETTINGS
@given(problems(max_nodes=3, max_jobs=4, max_replicas=2))
def test_optimal_means_optimal(p: Problem) -> None:
    """On problems small enough to enumerate, OPTIMAL equals the best feasible assignment."""
    r = solve(p, FAST)
    assume(r.status is Status.OPTIMAL)
    best = max(evaluate(p, a) for a in _all_assignments(p) if not check(p, a))
    assert r.objective == best


@SETTINGS
@given(problems(), st.sampled_from(list(GreedyRule)))
def test_every_greedy_rule_is_feasible(p: Problem, rule: GreedyRule) -> None:
    """Each greedy rule returns an assignment the checker accepts."""
    assert check(p, greedy(p, rule)) == []


@SETTINGS
@given(problems(), st.data())
def test_more_capacity_never_lowers_the_optimum(p: Problem, data: st.DataObject) -> None:
    """Adding free capacity to one node never lowers the proven optimum."""
    assume(p.num_nodes > 0)
    node = data.draw(st.integers(0, p.num_nodes - 1))
    extra = tuple(data.draw(st.integers(0, 3)) for _ in p.resources)

    def grow(rows: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
        return tuple(
            tuple(v + e for v, e in zip(row, extra, strict=True)) if n == node else row
            for n, row in enumerate(rows)
        )

    bigger = Problem(
        **{**vars(p), "node_free": grow(p.node_free), "node_capacity": grow(p.node_capacity)}
    )
    before, after = solve(p, FAST), solve(bigger, FAST)
    assume(before.status is Status.OPTIMAL and after.status is Status.OPTIMAL)
    assert after.objective >= before.objective


@SETTINGS
@given(problems(), st.randoms(use_true_random=False))
def test_relabelling_nodes_keeps_the_optimum(p: Problem, rnd: random.Random) -> None:
    """Renumbering the nodes changes the answer's indices but not the proven optimum."""
    perm = list(range(p.num_nodes))
    rnd.shuffle(perm)
    new_of = {old: new for new, old in enumerate(perm)}
    relabelled = Problem(
        **{
            **vars(p),
            "node_free": tuple(p.node_free[old] for old in perm),
            "node_capacity": tuple(p.node_capacity[old] for old in perm),
            "node_group": tuple(p.node_group[old] for old in perm),
            "job_eligible": tuple(tuple(sorted(new_of[n] for n in e)) for e in p.job_eligible),
        }
    )
    a, b = solve(p, FAST), solve(relabelled, FAST)
    assume(a.status is Status.OPTIMAL and b.status is Status.OPTIMAL)
    assert a.objective == b.objective


@SETTINGS
@given(problems())
def test_same_seed_same_result(p: Problem) -> None:
    """Two solves with the same parameters return identical results."""
    a, b = solve(p, FAST), solve(p, FAST)
    assert (a.status, a.assignment, a.objective, a.bound, a.unplaced) == (
        b.status, b.assignment, b.objective, b.bound, b.unplaced
    )  # fmt: skip
