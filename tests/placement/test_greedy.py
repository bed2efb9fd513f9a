"""Greedy baselines: priority-then-FIFO order, node rules, cheapest group, whole gangs only."""

from __future__ import annotations

import pytest

from scheduler.placement import GreedyRule, check, greedy
from tests.placement.cases import make_problem, placed


def test_higher_priority_goes_first() -> None:
    """With room for one job, the highest priority job gets it regardless of submit order."""
    p = make_problem(free=[(4,)], demand=[(4,)] * 3, priority=[1, 7, 3], resources=["cpu"])
    assert placed(greedy(p)) == {1}


def test_older_job_wins_a_priority_tie() -> None:
    """Among equal priorities the smaller FIFO rank (older job) is placed."""
    p = make_problem(free=[(4,)], demand=[(4,)] * 3, order=[9, 2, 5], resources=["cpu"])
    assert placed(greedy(p)) == {1}


@pytest.mark.parametrize(
    ("rule", "node"),
    [(GreedyRule.BEST_FIT, 1), (GreedyRule.WORST_FIT, 2), (GreedyRule.FIRST_FIT, 0)],
)
def test_node_rules(rule: GreedyRule, node: int) -> None:
    """BEST_FIT takes the tightest node, WORST_FIT the emptiest, FIRST_FIT the first that fits."""
    p = make_problem(free=[(3,), (2,), (8,)], capacity=[(8,)] * 3, demand=[(2,)], resources=["cpu"])
    assert greedy(p, rule) == ((node,),)


def test_cheapest_group_is_tried_first() -> None:
    """When both groups hold the job it goes to the cheaper one."""
    p = make_problem(
        free=[(4,), (4,)], groups=[0, 1], prices=[(5,), (2,)], demand=[(2,)], resources=["cpu"]
    )
    assert greedy(p) == ((1,),)


def test_gang_that_does_not_fit_a_group_falls_through_to_the_next() -> None:
    """A gang too big for the cheap group is placed whole in the dearer one, never split."""
    p = make_problem(
        free=[(2,), (2,), (2,)],
        groups=[0, 1, 1],
        prices=[(1,), (9,)],
        demand=[(2,)],
        replicas=[2],
        resources=["cpu"],
    )
    assert greedy(p) == ((1, 2),)


def test_gang_that_fits_nowhere_stays_unplaced_and_frees_nothing() -> None:
    """A failed gang leaves no partial placement, so a later job can still use the room."""
    p = make_problem(free=[(2,), (2,)], demand=[(2,), (2,)], replicas=[3, 2], resources=["cpu"])
    assert greedy(p) == (None, (0, 1))


def test_several_replicas_may_share_a_node() -> None:
    """Replicas of a gang stack on one node when it has room for them."""
    p = make_problem(free=[(6,)], demand=[(2,)], replicas=[3], resources=["cpu"])
    assert greedy(p) == ((0, 0, 0),)


@pytest.mark.parametrize("rule", list(GreedyRule))
def test_every_rule_respects_eligibility_and_capacity(rule: GreedyRule) -> None:
    """Each rule's answer passes the checker on a mixed problem."""
    p = make_problem(
        free=[(4, 4), (2, 8), (8, 2), (4, 4)],
        groups=[0, 0, 1, 1],
        prices=[(1, 1), (2, 1)],
        demand=[(2, 2), (1, 4), (4, 1), (2, 2)],
        replicas=[2, 1, 1, 2],
        priority=[0, 3, 1, 0],
        eligible=[(0, 1, 2, 3), (1,), (2, 3), (0, 3)],
    )
    assert check(p, greedy(p, rule)) == []
