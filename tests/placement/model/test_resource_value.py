"""Problem.resource_value: the work term's value per resource (model.py, evaluator.job_size).

Default (empty) is 1 for every resource, the size of v1; other values change which work the
engine prefers, and every engine (LP bound, rounding, CP-SAT, local search, baselines) reads
them through job_work, so bound and answers stay consistent.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from scheduler.placement import engine
from scheduler.placement.greedy.baselines import best_baseline
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.scale import job_size, job_work
from scheduler.placement.judges.verify import check
from scheduler.placement.lp.bound import lp_bound
from scheduler.placement.lp.rounding import lp_round
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.model.outcome import Status
from scheduler.placement.model.params import EngineParams
from tests.placement.lp.instances import optimum, tiny_problem
from tests.placement.random_problems import random_problem

WEIGHTS = ObjectiveWeights()

# One node (4 CPU, 2 GPU). Job 0 is CPU-heavy (4, 0); job 1 a GPU job (1, 2); job 2 (8, 8)
# fits nowhere and only sets the per-resource norms to 8. Jobs 0 and 1 do not fit together
# (5 CPU > 4).
CHOICE = Problem(
    resources=("cpu", "gpu"),
    node_capacity=((4, 2),),
    node_group=(0,),
    group_cost=((0, 0),),
    node_sets=((0,),),
    job_demand=((4, 0), (1, 2), (8, 8)),
    job_replicas=(1, 1, 1),
    job_priority=(0, 0, 0),
    job_order=(0, 1, 2),
    job_nodes=(0, 0, 0),
)


def test_default_is_one_per_resource() -> None:
    """An explicit value of 1 for every resource changes nothing: same sizes, same work, same
    evaluation, on random problems with every feature."""
    for seed in range(40):
        p = random_problem(seed)
        ones = replace(p, resource_value=(1,) * p.num_resources)
        assert job_size(ones) == job_size(p), seed
        assert job_work(ones) == job_work(p), seed
        empty = Solution((None,) * p.num_jobs)
        assert evaluate(ones, empty) == evaluate(p, empty), seed


def test_sizes_weigh_each_resource() -> None:
    """size = max(1, sum_r ceil(1000 * v_r * d_r / norm_r)): values scale before the rounding,
    0 drops a resource, and a job with nothing of value keeps size 1."""
    assert job_size(CHOICE) == (500, 125 + 250, 2000)
    assert job_size(replace(CHOICE, resource_value=(0, 1))) == (1, 250, 1000)
    assert job_size(replace(CHOICE, resource_value=(1, 2))) == (500, 125 + 500, 3000)
    # The value scales before the rounding: ceil(2000 * 1 / 3) = 667, not 2 * ceil(1000 / 3).
    p = replace(CHOICE, job_demand=((3, 0), (1, 1), (3, 8)), resource_value=(2, 0))
    assert job_size(p) == (2000, 667, 2000)


@pytest.mark.parametrize(
    ("value", "placed", "work"),
    [((), 0, 500), ((1, 1), 0, 500), ((0, 1), 1, 250), ((1, 2), 1, 625)],
)
def test_weighting_the_gpu_changes_the_placed_job(
    value: tuple[int, ...], placed: int, work: int
) -> None:
    """By default the CPU-heavy job is worth more (500 against 375) and the engine proves that
    placing it is optimal; valuing the GPU makes the GPU job the optimum instead."""
    p = replace(CHOICE, resource_value=value)
    o = engine.solve(p, params=EngineParams(time_limit_s=1.0))
    assert o.status is Status.OPTIMAL
    assert o.solution is not None and check(p, o.solution) == []
    assert [j for j, nodes in enumerate(o.solution.assignment) if nodes] == [placed]
    assert o.evaluation is not None and o.evaluation.work == work
    bound = lp_bound(p, WEIGHTS)
    assert bound.value is not None and o.value is not None and bound.value >= o.value


def test_bound_and_answers_agree_with_the_brute_force() -> None:
    """With random resource values on tiny problems: the LP bound is at least the brute-force
    optimum, the rounding and the baselines at most, and the engine reaches it."""
    rng = random.Random(7)
    checked = 0
    for seed in range(60):
        base = tiny_problem(seed)
        p = replace(base, resource_value=(rng.randint(0, 5), rng.randint(1, 5)))
        best = optimum(p, WEIGHTS)
        if best is None:
            continue
        bound = lp_bound(p, WEIGHTS)
        assert bound.value is not None and bound.value >= best, seed
        rounded = lp_round(p, WEIGHTS, bound)
        assert rounded is not None and check(p, rounded) == [], seed
        assert evaluate(p, rounded).value <= best, seed
        assert best_baseline(p, WEIGHTS)[2].value <= best, seed
        o = engine.solve(p, params=EngineParams(time_limit_s=1.0))
        assert o.value == best, seed
        checked += 1
    assert checked >= 30
