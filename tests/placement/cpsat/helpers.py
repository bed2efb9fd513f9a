"""Builders and an exact-solve helper shared by the CP-SAT tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scheduler.placement.cpsat import CpSatModel, CpSatResult, SearchLimits
from scheduler.placement.cpsat_data import Facts
from scheduler.placement.cpsat_objective import TermWeights
from scheduler.placement.evaluator import Evaluation, evaluate, job_work
from scheduler.placement.model import Balance, ObjectiveWeights, Problem, Service
from scheduler.placement.verify import check

# Two identical nodes of one group, prices zero; tests set what they are about.
BASE = Problem(
    resources=("cpu", "mem"),
    node_capacity=((4, 8), (4, 8)),
    node_group=(0, 0),
    group_cost=((0, 0),),
    node_sets=((0, 1),),
    job_demand=((1, 1),),
    job_replicas=(1,),
    job_priority=(0,),
    job_order=(0,),
    job_nodes=(0,),
)

LIMITS = SearchLimits(time_limit_s=5.0, deterministic=True, seed=0)


def tiny(**changes: Any) -> Problem:
    """BASE with `changes`; job fields default to one entry per job of `job_demand`."""
    count = len(changes.get("job_demand", BASE.job_demand))
    defaults: dict[str, Any] = {
        "job_replicas": (1,) * count,
        "job_priority": (0,) * count,
        "job_order": tuple(range(count)),
        "job_nodes": (0,) * count,
    }
    defaults.update(changes)
    return replace(BASE, **defaults)


def exact(p: Problem, weights: ObjectiveWeights | None = None) -> tuple[CpSatResult, Evaluation]:
    """Solves the exact model to optimality; asserts the checker accepts the answer and the
    model's objective and bound equal the evaluator's value."""
    weights = weights or ObjectiveWeights()
    model = CpSatModel(Facts(p), TermWeights.of(p, weights), job_work(p))
    result = model.solve(LIMITS)
    assert result.status == "OPTIMAL", result.status
    assert result.solution is not None
    assert check(p, result.solution) == []
    evaluation = evaluate(p, result.solution, weights)
    assert result.objective == evaluation.value
    assert result.bound == evaluation.value
    return result, evaluation


# ROADEF/EURO 2012 statement, section 2: 2 resources, 4 machines, 2 services, 3 processes, with
# the weights folded into the data (move costs x their weights). The statement's best solution
# costs 2,411: load 400 + balance 1,600 + process moves 101 + service 10 + machine moves 300.
_MMC = ((0, 1, 4, 5), (1, 0, 3, 4), (4, 3, 0, 2), (5, 4, 2, 0))
ROADEF = Problem(
    resources=("r1", "r2"),
    node_capacity=((30, 400), (10, 240), (15, 100), (10, 100)),
    node_group=(0, 0, 0, 0),
    group_cost=((0, 0),),
    node_sets=((0, 1, 2, 3),),
    job_demand=((12, 10), (10, 20), (6, 200)),
    job_replicas=(1, 1, 1),
    job_priority=(0, 0, 0),
    job_order=(0, 1, 2),
    job_nodes=(0, 0, 0),
    node_safety=((16, 80), (8, 160), (12, 80), (8, 80)),
    load_weight=(100, 10),
    transient=(True, False),
    node_domains=((0, 0), (0, 0), (1, 1), (1, 2)),
    domain_keys=("neighborhood", "location"),
    node_move_cost=tuple(tuple(100 * c for c in row) for row in _MMC),
    balances=(Balance(r1=0, r2=1, target=20, weight=10),),
    job_required=(True, True, True),
    job_current=((0,), (3,), (0,)),
    job_move_cost=(1000, 100, 1),
    services=(
        Service(jobs=(0, 1), anti_affinity=True, spread_key=1, spread_min=2),
        Service(
            jobs=(2,),
            anti_affinity=True,
            spread_key=1,
            spread_min=1,
            depends_on=(0,),
            affinity_key=0,
        ),
    ),
    service_move_weight=10,
)
ROADEF_BEST_COST = 2411
