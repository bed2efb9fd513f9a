"""The objective: its documented definition, lexicographic weights, and the evaluator's checks."""

from __future__ import annotations

import pytest

from scheduler.placement import evaluate
from scheduler.placement.objective import job_size, weights
from tests.placement.cases import make_problem


def test_value_follows_the_documented_formula() -> None:
    """Two jobs at price 2: sizes 500 and 1000 against the 4-cpu request, BIG = 12 + 1."""
    p = make_problem(free=[(8,)], demand=[(2,), (4,)], prices=[(2,)], resources=["cpu"])
    w = weights(p)
    assert job_size(p) == (500, 1000)
    assert w.work == (500, 1000)
    # Cost bound: min(capacity 8 * price 2, jobs 2*2 + 4*2) = 12.
    assert w.big == 13
    assert evaluate(p, [(0,), None]) == 13 * 500 - 4
    assert evaluate(p, [(0,), (0,)]) == 13 * 1500 - 12
    assert evaluate(p, [None, None]) == 0


def test_work_scales_with_priority_replicas_and_size() -> None:
    """work = (priority + 1) * replicas * size, size summed against the largest request."""
    p = make_problem(
        free=[(8, 16), (4, 4)], demand=[(2, 4), (8, 1)], replicas=[3, 1], priority=[4, 0]
    )
    # Largest requests: cpu 8, memory 4. Job 0: 250 + 1000. Job 1: 1000 + 250.
    assert job_size(p) == (1250, 1250)
    assert weights(p).work == (5 * 3 * 1250, 1 * 1 * 1250)


def test_sizes_do_not_depend_on_capacity() -> None:
    """Adding or growing nodes leaves every job's weight unchanged (only BIG may grow)."""
    small = make_problem(free=[(4, 4)], demand=[(1, 2), (3, 1)])
    large = make_problem(free=[(64, 64), (4, 4)], demand=[(1, 2), (3, 1)])
    assert weights(small).work == weights(large).work
    assert weights(small).big <= weights(large).big


def test_cost_can_never_outweigh_one_unit_of_work() -> None:
    """BIG exceeds the dearest possible total cost, so placing work always beats saving money."""
    p = make_problem(
        free=[(4, 4), (4, 4)],
        groups=[0, 1],
        prices=[(1000, 1000), (1, 1)],
        demand=[(4, 4), (4, 4)],
    )
    w = weights(p)
    # The dearest feasible plan fills both nodes: 4*1000 + 4*1000 on node 0, 4 + 4 on node 1.
    assert w.big > 8008
    assert evaluate(p, [(0,), (1,)]) > evaluate(p, [None, (1,)])


def test_cost_is_charged_per_replica_by_group() -> None:
    """Each replica pays demand times its own node's group price."""
    p = make_problem(
        free=[(4,), (4,)], groups=[0, 1], prices=[(3,), (5,)], demand=[(1,)], replicas=[2],
        resources=["cpu"],
    )  # fmt: skip
    w = weights(p)
    assert evaluate(p, [(0, 0)]) == w.big * w.work[0] - 2 * 3
    assert evaluate(p, [(1, 1)]) == w.big * w.work[0] - 2 * 5


def test_malformed_assignment_raises() -> None:
    """The evaluator refuses assignments without the problem's shape instead of guessing."""
    p = make_problem(free=[(4,)], demand=[(2,)], resources=["cpu"])
    with pytest.raises(ValueError, match="expected 1"):
        evaluate(p, [])
    with pytest.raises(ValueError, match="node 3 does not exist"):
        evaluate(p, [(3,)])
