"""Unplaced reasons: each code in a case built for it, with the detail a submitter can act on."""

from __future__ import annotations

from scheduler.placement import (
    GANG_INCOMPLETE,
    INSUFFICIENT_CAPACITY,
    NO_ELIGIBLE_NODE,
    NO_FITTING_NODE,
    OUTRANKED,
    Problem,
    Unplaced,
    solve,
)
from tests.placement.cases import FAST, make_problem


def _why(p: Problem, job: int = 0) -> Unplaced:
    r = solve(p, FAST)
    reasons = {u.job: u for u in r.unplaced}
    assert set(reasons) == {j for j, nodes in enumerate(r.assignment) if nodes is None}
    return reasons[job]


def test_no_eligible_node() -> None:
    """A job whose constraints exclude every node says so."""
    u = _why(make_problem(free=[(4,)], demand=[(1,)], eligible=[()], resources=["cpu"]))
    assert u.reason == NO_ELIGIBLE_NODE


def test_no_fitting_node_names_the_closest_node_and_gap() -> None:
    """A replica larger than every eligible node names the node with the smallest gap, measured
    against the largest node of each resource."""
    p = make_problem(
        free=[(0, 8), (2, 2)],
        capacity=[(4, 8), (8, 2)],
        demand=[(8, 4)],
        node_names=["a-1", "b-1"],
    )
    u = _why(p)
    assert u.reason == NO_FITTING_NODE
    # a-1 lacks cpu 4 of 8, b-1 lacks memory 2 of 8: b-1 is closer.
    assert "closest node b-1 short memory=2" in u.detail


def test_gang_incomplete_says_how_many_replicas_the_best_group_holds() -> None:
    """A gang no single group could hold even when empty reports the best group's count."""
    p = make_problem(
        free=[(2,), (2,), (2,)], groups=[0, 1, 1], demand=[(2,)], replicas=[3],
        group_names=["east", "west"], resources=["cpu"],
    )  # fmt: skip
    u = _why(p)
    assert u.reason == GANG_INCOMPLETE
    assert "needs 3 replicas in one group" in u.detail
    assert "group west, holds 2 even when empty" in u.detail


def test_insufficient_capacity_names_what_the_best_node_lacks() -> None:
    """A job that fits an idle node but not today's free capacity names the shortfall."""
    p = make_problem(
        free=[(1000, 4), (500, 1)],
        capacity=[(8000, 8), (8000, 8)],
        demand=[(3000, 2)],
        node_names=["gpu-1", "gpu-2"],
        resources=["cpu", "gpu"],
    )
    u = _why(p)
    assert u.reason == INSUFFICIENT_CAPACITY
    assert "best node gpu-1 short cpu=2000" in u.detail


def test_insufficient_capacity_for_a_gang_counts_replicas() -> None:
    """When single replicas fit but the whole gang does not, the detail says how many fit now."""
    p = make_problem(
        free=[(2,), (0,)], capacity=[(2,), (2,)], demand=[(2,)], replicas=[2], resources=["cpu"]
    )
    u = _why(p)
    assert u.reason == INSUFFICIENT_CAPACITY
    assert "holds 1 of 2 replicas" in u.detail


def test_outranked_names_the_job_that_took_the_room() -> None:
    """A job the start-of-cycle capacity held, lost to a higher-priority job, names that job."""
    p = make_problem(
        free=[(4,)], demand=[(4,), (4,)], priority=[2, 9], node_names=["n1"], resources=["cpu"]
    )
    u = _why(p)
    assert u.reason == OUTRANKED
    assert "taken this cycle by job 1 (priority 9) on node n1" in u.detail


def test_placed_jobs_have_no_reason() -> None:
    """Only unplaced jobs appear in `unplaced`."""
    r = solve(make_problem(free=[(8,)], demand=[(4,), (4,)], resources=["cpu"]), FAST)
    assert r.unplaced == ()
