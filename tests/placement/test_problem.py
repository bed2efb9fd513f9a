"""Problem validation: bad data is refused at construction with a message naming the index."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.placement import InvalidProblem, Problem, SolveParams
from tests.placement.cases import make_problem

GOOD: dict[str, Any] = {
    "resources": ("cpu", "memory"),
    "node_free": ((4, 8), (2, 2)),
    "node_capacity": ((4, 8), (4, 8)),
    "node_group": (0, 1),
    "group_cost": ((1, 1), (2, 2)),
    "job_demand": ((1, 1), (2, 2)),
    "job_replicas": (1, 2),
    "job_priority": (0, 5),
    "job_order": (10, 11),
    "job_eligible": ((0, 1), (1,)),
}


def test_good_problem_is_accepted() -> None:
    """A consistent problem constructs and reports its sizes."""
    p = Problem(**GOOD)
    assert (p.num_resources, p.num_nodes, p.num_groups, p.num_jobs) == (2, 2, 2, 2)
    assert p.node_label(1) == "node 1" and p.group_label(0) == "group 0"


def test_names_make_labels_readable() -> None:
    """Node and group names, when given, replace the indices in labels."""
    p = Problem(**GOOD, node_names=("a/n1", "b/n1"), group_names=("a", "b"))
    assert p.node_label(1) == "node b/n1" and p.group_label(0) == "group a"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"job_replicas": (1, 0)}, "job 1: replicas must be >= 1"),
        ({"node_free": ((4, 8), (-1, 2))}, "node 1: free[0] must be >= 0"),
        ({"node_free": ((4, 9), (2, 2))}, "node 0: free[1] = 9 exceeds capacity[1] = 8"),
        ({"node_capacity": ((4, 8), (4,))}, "node 1: capacity has 1 entries, expected 2"),
        ({"node_group": (0, 3)}, "node 1: group 3 does not exist (2 groups)"),
        ({"group_cost": ((1, 1), (2, -2))}, "group 1: cost[1] must be >= 0"),
        ({"job_priority": (1001, 0)}, "job 0: priority must be <= 1000"),
        ({"job_demand": ((1, 1), (0, 0))}, "job 1: demand must have at least one positive"),
        ({"job_demand": ((1,), (2, 2))}, "job 0: demand has 1 entries, expected 2"),
        ({"job_demand": ((1, True), (2, 2))}, "job 0: demand[1] must be an integer"),
        ({"job_eligible": ((0, 5), (1,))}, "job 0: eligible node 5 does not exist (2 nodes)"),
        ({"job_eligible": ((0, 0), (1,))}, "job 0: eligible node 0 is listed twice"),
        ({"job_order": (7, 7)}, "job 1: order 7 repeats job 0's"),
        ({"job_replicas": (1,)}, "problem: job_replicas has 1 entries, expected 2"),
        ({"node_group": [0, 1]}, "problem: node_group must be a tuple"),
        ({"resources": ("cpu", "cpu")}, "resource 1: name 'cpu' repeats"),
        ({"resources": ()}, "problem: resources must be a non-empty tuple"),
        ({"node_names": ("only-one",)}, "problem: node_names has 1 entries, expected 2 or 0"),
    ],
)
def test_bad_data_names_the_index(change: dict[str, Any], message: str) -> None:
    """Each kind of inconsistency raises InvalidProblem whose message names where it is."""
    with pytest.raises(InvalidProblem) as err:
        Problem(**{**GOOD, **change})
    assert message in str(err.value)


def test_too_much_weighted_work_is_refused() -> None:
    """A cycle whose priority-weighted work could not be scaled exactly is refused, not solved."""
    width = 32
    with pytest.raises(InvalidProblem, match="total weighted work"):
        make_problem(
            free=[(1,) * width],
            demand=[(1,) * width] * 40,
            replicas=[1 << 14] * 40,
            priority=[1000] * 40,
            resources=[f"r{i}" for i in range(width)],
        )


def test_problem_without_jobs_or_nodes_is_valid() -> None:
    """An empty queue and an empty pool are ordinary problems, not errors."""
    p = make_problem(free=[], demand=[], resources=["cpu"])
    assert p.num_jobs == 0 and p.num_nodes == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_limit_s": 0}, "time_limit_s must be > 0"),
        ({"time_limit_s": float("inf")}, "time_limit_s must be a finite number"),
        ({"workers": 0}, "workers must be >= 1"),
        ({"seed": -1}, "seed must be in 0..2^31-1"),
    ],
)
def test_solve_params_are_validated(kwargs: dict[str, Any], message: str) -> None:
    """SolveParams refuses limits CP-SAT would misread, naming the field."""
    with pytest.raises(ValueError, match=message.replace("^", r"\^")):
        SolveParams(**kwargs)
