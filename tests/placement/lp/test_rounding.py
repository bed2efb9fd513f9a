"""LP rounding: always a valid answer (or None with a reason), never below greedy."""

from __future__ import annotations

import pytest

from benchmarks.synthetic import Spec, generate
from scheduler.placement.greedy.baselines import best_baseline
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.verify import check
from scheduler.placement.lp.bound import lp_bound
from scheduler.placement.lp.rounding import lp_round
from scheduler.placement.model import ObjectiveWeights, Problem, Service
from tests.placement.lp.instances import optimum, tiny_problem
from tests.placement.random_problems import random_problem

WEIGHTS = ObjectiveWeights()
CITY = Spec("T", jobs=300, nodes=30, clusters=4, regions=2, departments=4)


def test_answers_pass_the_checker_with_every_feature() -> None:
    """On 150 random problems with devices, services, running jobs, quotas and overrides,
    every answer passes the independent checker, and None only comes with an unplaceable
    required job."""
    for seed in range(150):
        p = random_problem(seed)
        bound = lp_bound(p, WEIGHTS)
        s = lp_round(p, WEIGHTS, bound)
        if s is None:
            assert bound.value is None or any(p.job_required), seed
            continue
        assert check(p, s) == [], seed


def test_answers_are_often_optimal_on_tiny_problems() -> None:
    """On tiny problems the rounding is valid always and reaches the brute-force optimum in
    most cases."""
    hits = total = 0
    for seed in range(120):
        p = tiny_problem(seed)
        best = optimum(p, WEIGHTS)
        if best is None:
            continue
        s = lp_round(p, WEIGHTS, lp_bound(p, WEIGHTS))
        assert s is not None, seed
        assert check(p, s) == [], seed
        value = evaluate(p, s, WEIGHTS).value
        assert value <= best
        total += 1
        hits += value == best
    assert hits >= 0.8 * total


@pytest.mark.parametrize("seed", range(3))
def test_city_answer_is_valid_and_beats_the_best_greedy(seed: int) -> None:
    """On small synthetic cities the answer passes the checker and is worth at least as much
    as the best greedy baseline, and stays below the LP bound."""
    p = generate(CITY, seed)
    bound = lp_bound(p, WEIGHTS)
    s = lp_round(p, WEIGHTS, bound)
    assert s is not None
    assert check(p, s) == []
    value = evaluate(p, s, WEIGHTS).value
    _, _, greedy = best_baseline(p, WEIGHTS)
    assert bound.value is not None
    assert greedy.value <= value <= bound.value


def test_divisible_sizes_fill_every_node() -> None:
    """One resource, sizes dividing the capacity: the answer is worth exactly the bound."""
    sizes = (4, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 4, 2)
    p = Problem(
        resources=("cpu",),
        node_capacity=((8,), (8,), (8,)),
        node_group=(0, 0, 0),
        group_cost=((0,),),
        node_sets=((0, 1, 2),),
        job_demand=tuple((s,) for s in sizes),
        job_replicas=(1,) * len(sizes),
        job_priority=(0,) * len(sizes),
        job_order=tuple(range(len(sizes))),
        job_nodes=(0,) * len(sizes),
    )
    bound = lp_bound(p, WEIGHTS)
    s = lp_round(p, WEIGHTS, bound)
    assert s is not None
    assert evaluate(p, s, WEIGHTS).value == bound.value


def test_shares_of_a_gpu_are_packed_onto_devices() -> None:
    """Quarter- and half-device replicas fill two devices exactly, with device ids that the
    checker accepts."""
    p = Problem(
        resources=("cpu", "gpu"),
        node_capacity=((16, 2000),),
        node_group=(0,),
        group_cost=((0, 0),),
        node_sets=((0,),),
        job_demand=((1, 500), (1, 250), (1, 250), (1, 500), (1, 500), (1, 250)),
        job_replicas=(1, 1, 2, 1, 1, 1),
        job_priority=(0,) * 6,
        job_order=tuple(range(6)),
        job_nodes=(0,) * 6,
        node_devices=(2,),
        gpu_resource=1,
    )
    s = lp_round(p, WEIGHTS, lp_bound(p, WEIGHTS))
    assert s is not None
    assert check(p, s) == []
    placed = [j for j, nodes in enumerate(s.assignment) if nodes is not None]
    share = sum(p.job_demand[j][1] * p.job_replicas[j] for j in placed)
    assert share == 2000


def test_same_input_gives_the_same_answer() -> None:
    """Without a deadline the rounding is a pure function of its input."""
    p = generate(CITY, 5)
    first = lp_round(p, WEIGHTS, lp_bound(p, WEIGHTS))
    second = lp_round(p, WEIGHTS, lp_bound(p, WEIGHTS))
    assert first == second


def test_required_jobs_are_placed_even_at_the_expense_of_others() -> None:
    """A required job that the LP plan would crowd out is placed by evicting optional work."""
    p = Problem(
        resources=("cpu",),
        node_capacity=((4,),),
        node_group=(0,),
        group_cost=((0,),),
        node_sets=((0,),),
        job_demand=((3,), (2,), (2,)),
        job_replicas=(1, 1, 1),
        job_priority=(9, 9, 0),
        job_order=(0, 1, 2),
        job_nodes=(0, 0, 0),
        job_required=(False, False, True),
    )
    s = lp_round(p, WEIGHTS, lp_bound(p, WEIGHTS))
    assert s is not None
    assert check(p, s) == []
    assert s.assignment[2] == (0,)


def test_anti_affinity_members_get_distinct_nodes() -> None:
    """Members of an anti-affinity service are placed on distinct nodes or not at all."""
    p = Problem(
        resources=("cpu",),
        node_capacity=((8,), (8,)),
        node_group=(0, 0),
        group_cost=((0,),),
        node_sets=((0, 1),),
        job_demand=((1,), (1,), (1,)),
        job_replicas=(2, 1, 1),
        job_priority=(0, 0, 0),
        job_order=(0, 1, 2),
        job_nodes=(0, 0, 0),
        services=(Service(jobs=(0, 1), anti_affinity=True),),
    )
    s = lp_round(p, WEIGHTS, lp_bound(p, WEIGHTS))
    assert s is not None
    assert check(p, s) == []
    assert s.assignment[0] is not None and sorted(s.assignment[0]) == [0, 1]
    assert s.assignment[1] is None  # no third node for its replica
    assert s.assignment[2] is not None


def test_infeasible_relaxation_gives_none() -> None:
    """When the LP proves the required jobs cannot all be placed, there is no answer."""
    p = Problem(
        resources=("cpu",),
        node_capacity=((4,), (4,)),
        node_group=(0, 1),
        group_cost=((0,), (0,)),
        node_sets=((0, 1),),
        job_demand=((3,), (3,), (3,)),
        job_replicas=(1, 1, 1),
        job_priority=(0, 0, 0),
        job_order=(0, 1, 2),
        job_nodes=(0, 0, 0),
        job_required=(True, True, True),
    )
    bound = lp_bound(p, WEIGHTS)
    assert bound.value is None
    assert lp_round(p, WEIGHTS, bound) is None


def test_explicit_weights_leave_out_jobs_that_cost_more_than_they_are_worth() -> None:
    """With a small explicit work weight a job dearer than its work stays unplaced, and the
    bound knows it."""
    p = Problem(
        resources=("cpu",),
        node_capacity=((8,),),
        node_group=(0,),
        group_cost=((1000,),),
        node_sets=((0,),),
        job_demand=((4,), (4,)),
        job_replicas=(1, 1),
        job_priority=(0, 9),
        job_order=(0, 1),
        job_nodes=(0, 0),
    )
    weights = ObjectiveWeights(work=1)
    bound = lp_bound(p, weights)
    s = lp_round(p, weights, bound)
    assert s is not None
    value = evaluate(p, s, weights).value
    # Job 1 (priority 9) is worth 10 * 1000 = 10,000 > 4,000; job 0 is worth 1,000 < 4,000.
    assert s.assignment == (None, (0,))
    assert value == bound.value == 10_000 - 4_000
