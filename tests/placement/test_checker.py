"""The independent checker reports every kind of violation in hand-made bad assignments."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.placement import Problem, check
from tests.placement.cases import make_problem


def _pool() -> Problem:
    # Group 0: nodes 0 and 1 (cpu 4, memory 8 each); group 1: node 2. Job 1 may not use node 1.
    return make_problem(
        free=[(4, 8), (4, 8), (4, 8)],
        groups=[0, 0, 1],
        demand=[(2, 2), (3, 1)],
        replicas=[2, 1],
        eligible=[(0, 1, 2), (0, 2)],
    )


def _only(violations: Sequence[str], fragment: str) -> None:
    assert len(violations) == 1, violations
    assert fragment in violations[0], violations


def test_feasible_assignment_has_no_violations() -> None:
    """A gang on two nodes of one group plus a job on an eligible node passes."""
    assert check(_pool(), [(0, 1), (2,)]) == []
    assert check(_pool(), [None, None]) == []


def test_wrong_length_is_reported() -> None:
    """An assignment without one entry per job is refused outright."""
    _only(check(_pool(), [(0, 1)]), "assignment has 1 entries, expected 2")


def test_capacity_violation_names_node_and_resource() -> None:
    """Two replicas and a 3-cpu job on one 4-cpu node overflow cpu on that node only."""
    violations = check(_pool(), [(0, 1), (0,)])
    _only(violations, "node 0: cpu used 5 > free 4")


def test_every_resource_is_checked() -> None:
    """A memory overflow is caught even when cpu fits."""
    p = make_problem(free=[(8, 4)], demand=[(1, 3)], replicas=[2])
    _only(check(p, [(0, 0)]), "node 0: memory used 6 > free 4")


def test_partial_gang_is_reported() -> None:
    """A gang with fewer replicas than asked is a violation (all or none)."""
    _only(check(_pool(), [(0,), None]), "job 0: 1 replicas placed, expected 2")


def test_too_many_replicas_is_reported() -> None:
    """More replicas than the job has is a violation too."""
    _only(check(_pool(), [(0, 1, 1), None]), "job 0: 3 replicas placed, expected 2")


def test_gang_across_groups_is_reported() -> None:
    """Replicas of one gang in two groups break the single-group rule."""
    _only(check(_pool(), [(0, 2), None]), "job 0: replicas span groups group 0, group 1")


def test_ineligible_node_is_reported() -> None:
    """A replica on a node outside the job's eligible list is a violation."""
    _only(check(_pool(), [None, (1,)]), "job 1: replica 0 on node 1, which is not eligible")


def test_unknown_node_is_reported() -> None:
    """A node index outside the problem is reported, not raised."""
    _only(check(_pool(), [None, (7,)]), "job 1: replica 0 on node 7, which does not exist")


def test_all_violations_are_listed_together() -> None:
    """Several faults in one assignment each produce their own line."""
    violations = check(_pool(), [(0, 0, 2), (0,)])
    assert len(violations) == 3, violations
    assert "job 0: 3 replicas placed, expected 2" in violations[0]
    assert "job 0: replicas span groups" in violations[1]
    assert "node 0: cpu used 7 > free 4" in violations[2]
