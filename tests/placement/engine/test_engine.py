"""The v2 engine: stages, statuses, the checker gate, determinism, warm starts, properties."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from benchmarks.synthetic import Spec, generate
from scheduler.placement import engine
from scheduler.placement.greedy.baselines import best_baseline
from scheduler.placement.greedy.warm_start import repair
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import Evaluation, evaluate
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.model.outcome import Status
from scheduler.placement.model.params import EngineParams, ShouldStop
from scheduler.placement.stages import construct
from tests.placement.cpsat.helpers import ROADEF, ROADEF_BEST_COST, tiny
from tests.placement.cpsat.strategies import more_capacity, problems

PARAMS = EngineParams(time_limit_s=1.0)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WEIGHTS = ObjectiveWeights()


@pytest.fixture(scope="module")
def city() -> Problem:
    """A small synthetic city: 120 jobs on 16 nodes in 3 clusters, GPU devices included."""
    return generate(Spec("T", jobs=120, nodes=16, clusters=3, regions=2, departments=3), 3)


def test_small_problem_is_solved_to_optimality() -> None:
    """ROADEF's example goes to exact CP-SAT, which proves the published optimum (2,411)."""
    o = engine.solve(ROADEF, params=PARAMS)
    assert o.status is Status.OPTIMAL
    assert o.evaluation is not None
    assert o.evaluation.work_weight * o.evaluation.work - o.evaluation.value == ROADEF_BEST_COST
    assert o.value == o.upper_bound == o.lower_bound
    assert o.timings.cpsat_ms > 0 and o.timings.lns_ms == 0


def test_large_problem_goes_to_lns(city: Problem) -> None:
    """Above the exact-model threshold the search is LNS; the answer passes the checker and is
    no worse than the best baseline."""
    o = engine.solve(city, params=EngineParams(time_limit_s=1.0, exact_max_pairs=10))
    assert o.solution is not None
    assert check(city, o.solution) == []
    assert o.timings.lns_ms > 0 and o.timings.cpsat_ms == 0
    assert o.greedy_value is not None and o.value is not None and o.value >= o.greedy_value
    assert o.upper_bound >= o.value


@pytest.mark.parametrize("exact_max_pairs", [10, 100_000])
def test_deterministic_mode_repeats(city: Problem, exact_max_pairs: int) -> None:
    """With deterministic=True and one seed, LNS and exact CP-SAT return the same answer twice."""
    params = EngineParams(time_limit_s=0.5, seed=5, exact_max_pairs=exact_max_pairs)
    first, second = engine.solve(city, params=params), engine.solve(city, params=params)
    assert first.solution == second.solution
    assert first.value == second.value


def test_unplaceable_required_job_is_infeasible() -> None:
    """A required job larger than every node: INFEASIBLE, no solution, a summary all the same."""
    o = engine.solve(tiny(job_demand=((5, 1),), job_required=(True,)), params=PARAMS)
    assert o.status is Status.INFEASIBLE
    assert o.solution is None and o.value is None
    assert o.summary().startswith("INFEASIBLE")


def test_no_jobs_is_empty() -> None:
    """A problem without jobs returns EMPTY at once."""
    p = tiny(job_demand=(), job_replicas=(), job_priority=(), job_order=(), job_nodes=())
    o = engine.solve(p, params=PARAMS)
    assert o.status is Status.EMPTY
    assert o.solution == Solution(())


def test_rejected_candidates_are_dropped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """A baseline answer the checker rejects never comes back, however well it scores; the
    outcome says why."""
    p = tiny(job_demand=((3, 1), (3, 1), (3, 1)))
    overfull = Solution(((0,), (0,), (1,)))
    assert check(p, overfull) != []
    flattering = replace(evaluate(p, overfull, WEIGHTS), value=1 << 60)

    def fake(
        _p: Problem, _w: ObjectiveWeights, _stop: ShouldStop | None = None, *, compact: bool
    ) -> tuple[str, Solution, Evaluation]:
        return "fake", overfull, flattering

    monkeypatch.setattr(construct, "best_baseline", fake)
    o = engine.solve(p, params=EngineParams(time_limit_s=1.0, use_lp=False, use_cpsat=False))
    assert o.solution is not None and check(p, o.solution) == []
    assert any("fake answer failed the checker" in note for note in o.notes)


def test_warm_start_is_repaired_and_competes() -> None:
    """A warm start with a job on an ineligible node loses that job and keeps the rest; the
    engine's answer is never worse than the repaired warm start."""
    p = tiny(
        node_sets=((0, 1), (1,)),
        job_demand=((4, 1), (4, 1)),
        job_nodes=(0, 1),
        job_priority=(0, 3),
    )
    warm = Solution(((0,), (0,)))  # job 1 may not use node 0
    repaired = repair(Facts(p), warm)
    assert repaired.assignment == ((0,), None)
    params = EngineParams(time_limit_s=1.0, use_lp=False, use_cpsat=False, use_lns=False)
    o = engine.solve(p, params=params, warm_start=warm)
    assert o.solution is not None and check(p, o.solution) == []
    assert o.value is not None and o.value >= evaluate(p, repaired, WEIGHTS).value


def test_summary_is_one_line(city: Problem) -> None:
    """The summary is one line with status, placed count, value, bound, gap and time."""
    line = engine.solve(city, params=PARAMS).summary()
    assert "\n" not in line
    for key in ("placed=", "value=", "bound=", "gap=", "greedy=", "source=", "time="):
        assert key in line


@SETTINGS
@given(problems())
def test_answers_pass_the_checker_and_score_honestly(p: Problem) -> None:
    """Every answer passes the checker, its value is recomputed exactly, it lies under the
    bound, beats every baseline the checker accepts, and exactly the unplaced jobs are
    explained."""
    o = engine.solve(p, params=PARAMS)
    if o.solution is None:
        assert o.status in (Status.INFEASIBLE, Status.UNKNOWN)
        return
    assert check(p, o.solution) == []
    assert o.evaluation == evaluate(p, o.solution, WEIGHTS)
    assert o.value is not None and o.value <= o.upper_bound
    assert (o.status is Status.OPTIMAL) == (o.value == o.upper_bound)
    _, baseline, evaluation = best_baseline(p, WEIGHTS)
    if check(p, baseline) == []:
        assert o.value >= evaluation.value
    unplaced = {j for j, nodes in enumerate(o.solution.assignment) if nodes is None}
    assert {u.job for u in o.unplaced} == unplaced


@SETTINGS
@given(problems(), st.integers(1, 3))
def test_more_capacity_keeps_a_feasible_problem_feasible(p: Problem, extra: int) -> None:
    """Adding capacity to every node never turns a solved problem into an unsolved one."""
    assume(engine.solve(p, params=PARAMS).solution is not None)
    bigger = more_capacity(p, extra)
    o = engine.solve(bigger, params=PARAMS)
    assert o.solution is not None
    assert check(bigger, o.solution) == []
