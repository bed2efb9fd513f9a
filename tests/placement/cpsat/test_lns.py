"""Large-neighbourhood search: improves bad starts, never loses the incumbent, repeats."""

from __future__ import annotations

import pytest

from benchmarks.synthetic import Spec, generate
from scheduler.placement.cpsat_data import Facts
from scheduler.placement.cpsat_objective import TermWeights
from scheduler.placement.evaluator import evaluate, job_work
from scheduler.placement.lns import LnsLimits, LnsResult, improve
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.verify import check
from scheduler.placement.warm_start import stay

WEIGHTS = ObjectiveWeights()
LIMITS = LnsLimits(budget_s=30.0, step_s=0.1, deterministic=True, seed=7, max_steps=12)


@pytest.fixture(scope="module")
def city() -> Problem:
    """A small synthetic city: 120 jobs on 16 nodes in 3 clusters, GPU devices included."""
    return generate(Spec("T", jobs=120, nodes=16, clusters=3, regions=2, departments=3), 3)


def _run(p: Problem, start: Solution, limits: LnsLimits = LIMITS) -> LnsResult:
    return improve(
        Facts(p),
        TermWeights.of(p, WEIGHTS),
        job_work(p),
        start,
        score=lambda s: evaluate(p, s, WEIGHTS).value,
        feasible=lambda s: not check(p, s),
        limits=limits,
    )


def test_lns_improves_a_deliberately_bad_start(city: Problem) -> None:
    """From "nothing placed", a dozen neighbourhoods place work; the answer passes the
    checker and its reported value is the evaluator's."""
    start = stay(Facts(city))
    result = _run(city, start)
    assert result.improvements > 0
    assert result.value > evaluate(city, start, WEIGHTS).value
    assert check(city, result.solution) == []
    assert result.value == evaluate(city, result.solution, WEIGHTS).value


def test_lns_keeps_the_incumbent_when_nothing_helps(city: Problem) -> None:
    """With no step to spend, the start comes back unchanged."""
    start = stay(Facts(city))
    limits = LnsLimits(budget_s=30.0, step_s=0.1, max_steps=0)
    result = _run(city, start, limits)
    assert result.solution == start
    assert result.steps == 0


def test_lns_is_deterministic_for_a_seed(city: Problem) -> None:
    """Two deterministic runs with one seed return the same solution."""
    start = stay(Facts(city))
    limits = LnsLimits(budget_s=30.0, step_s=0.1, deterministic=True, seed=3, max_steps=5)
    assert _run(city, start, limits).solution == _run(city, start, limits).solution
