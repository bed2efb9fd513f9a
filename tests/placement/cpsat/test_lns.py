"""Large-neighbourhood search: improves bad starts, never loses the incumbent, repeats."""

from __future__ import annotations

import random

import pytest

from benchmarks.synthetic import Spec, generate
from scheduler.placement.cpsat.lns import LnsLimits, LnsResult, improve
from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.pieces import Neighbourhoods
from scheduler.placement.cpsat.scope import Incumbent
from scheduler.placement.greedy.warm_start import stay
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.scale import job_work
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from tests.placement.build import jobs

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


def test_costly_pieces_start_from_the_nodes_above_safety() -> None:
    """The "costly" shape draws half its nodes among those loaded above safety (load cost can
    fall there) and fills the rest at random; without load weights it is a random piece."""
    nodes = 8
    p = jobs(
        4,
        node_capacity=((4, 8),) * nodes,
        node_group=(0,) * nodes,
        node_sets=(tuple(range(nodes)),),
        node_safety=((2, 8),) * nodes,
        load_weight=(1, 0),
        job_demand=((3, 1),) * 4,
        job_current=((5,), (6,), (0,), (1,)),
        job_move_cost=(0, 0, 0, 0),
    )
    start = Solution(((5,), (6,), (0,), (1,)))
    facts = Facts(p)
    hoods = Neighbourhoods(facts, job_work(p), random.Random(1))
    hoods.reset(Incumbent(facts, start))
    hoods.nodes_per_step = 4
    for _ in range(20):
        chosen = hoods._costly_nodes()
        assert len(chosen) == 4
        assert len(chosen & {0, 1, 5, 6}) >= 2
