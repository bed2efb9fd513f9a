"""Warm starts of the CP-SAT model: complete hints, never lost."""

from __future__ import annotations

import random

import pytest

from benchmarks.synthetic import Spec, generate
from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.pieces import Neighbourhoods
from scheduler.placement.cpsat.scope import Incumbent
from scheduler.placement.cpsat.solver import CpSatModel, SearchLimits
from scheduler.placement.greedy.baselines import best_baseline
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.scale import job_work
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from tests.placement.cpsat.helpers import ROADEF

WEIGHTS = ObjectiveWeights()


@pytest.fixture(scope="module")
def city() -> tuple[Problem, Solution]:
    """A small synthetic city (GPU shares and gangs included) and its best baseline answer."""
    p = generate(Spec("T", jobs=120, nodes=16, clusters=3, regions=2, departments=3), 3)
    _, start, _ = best_baseline(p, WEIGHTS)
    assert check(p, start) == []
    return p, start


def _hinted_everything(model: CpSatModel) -> bool:
    proto = model.model.proto
    return set(proto.solution_hint.vars) == set(range(len(proto.variables)))


def test_exact_model_hint_is_complete() -> None:
    """Hinting ROADEF's initial placement sets every variable, auxiliaries included, and the
    model's objective at the hint is the evaluator's value of it (4,200 of cost)."""
    model = CpSatModel(Facts(ROADEF), TermWeights.of(ROADEF, WEIGHTS), job_work(ROADEF))
    initial = Solution(tuple(ROADEF.job_current))
    model.hint(initial)
    assert _hinted_everything(model)
    evaluation = evaluate(ROADEF, initial, WEIGHTS)
    assert model.hint_value == evaluation.value
    assert evaluation.work_weight * evaluation.work - evaluation.value == 4200


def test_neighbourhood_hints_are_complete_and_never_lost(city: tuple[Problem, Solution]) -> None:
    """Every neighbourhood model is fully hinted by the incumbent, and a short solve never
    returns anything the evaluator scores below it."""
    p, start = city
    facts = Facts(p)
    incumbent = Incumbent(facts, start)
    hoods = Neighbourhoods(facts, job_work(p), random.Random(1))
    hoods.reset(incumbent)
    base = evaluate(p, start, WEIGHTS).value
    for _ in range(6):
        scope = hoods.pick()
        model = CpSatModel(facts, TermWeights.of(p, WEIGHTS), job_work(p), scope, incumbent)
        model.hint(start)
        assert _hinted_everything(model)
        result = model.solve(SearchLimits(time_limit_s=0.05))
        assert result.solution is not None
        assert check(p, result.solution) == []
        assert evaluate(p, result.solution, WEIGHTS).value >= base
