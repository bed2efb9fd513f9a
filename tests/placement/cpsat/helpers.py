"""Builders and an exact-solve helper shared by the CP-SAT tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.solver import CpSatModel, CpSatResult, SearchLimits
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import Evaluation, evaluate
from scheduler.placement.judges.scale import job_work
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem
from tests.placement.build import ROADEF as ROADEF  # re-exported for the cpsat tests

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


# The ROADEF/EURO 2012 statement's example (tests.placement.build). Its best solution costs
# 2,411: load 400 + balance 1,600 + process moves 101 + service 10 + machine moves 300.
ROADEF_BEST_COST = 2411
