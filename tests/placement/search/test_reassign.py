"""The reassignment local search (scheduler.placement.reassign): shift and swap moves of running
work, judged against the independent checker and evaluator."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from scheduler.placement import EngineParams, solve
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.search.reassign import (
    Reassign,
    _boosted_load_weights,
    reassign,
    window,
)
from scheduler.placement.search.reassign_state import movable_jobs
from tests.placement.build import ROADEF, ROADEF_INITIAL, ROADEF_OPTIMUM, jobs
from tests.placement.random_problems import random_problem

WEIGHTS = ObjectiveWeights()
COSTS = ("migration", "money", "energy", "load", "balance")


def later(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def weighted_cost(p: Problem, s: Solution) -> int:
    """The cost terms reassign moves, as the evaluator computes them (all weights 1)."""
    e = evaluate(p, s, WEIGHTS)
    return sum(getattr(e, term) for term in COSTS)


def test_roadef_statement_example_descends_to_the_optimum() -> None:
    start = Solution(ROADEF_INITIAL)
    state = Reassign(ROADEF, start, WEIGHTS)
    assert state.cost == 4200 == weighted_cost(ROADEF, start)
    result = reassign(ROADEF, start, WEIGHTS, later(), late=False)
    assert result.solution.assignment == ROADEF_OPTIMUM
    assert result.cost == 2411 == weighted_cost(ROADEF, result.solution)
    assert result.saved == 4200 - 2411
    assert result.local_optimum
    assert check(ROADEF, result.solution) == []


def test_late_acceptance_keeps_the_best_answer_it_saw() -> None:
    result = reassign(ROADEF, Solution(ROADEF_INITIAL), WEIGHTS, later(0.3), seed=3)
    assert result.cost == 2411
    assert check(ROADEF, result.solution) == []


def test_transient_hold_blocks_a_move_into_the_node_a_job_left() -> None:
    # Gang job 0 (frozen: two replicas) moved a -> b in the start; its transient cpu (4 of 4)
    # is still held on a, so job 1 (on b, above safety) cannot move to a although a is empty.
    p = jobs(
        2,
        node_capacity=((4, 8), (8, 8)),
        job_demand=((2, 1), (2, 1)),
        job_replicas=(2, 1),
        node_safety=((4, 8), (4, 8)),
        load_weight=(10, 0),
        transient=(True, False),
        job_current=((0, 0), (1,)),
        job_move_cost=(0, 0),
    )
    start = Solution(((1, 1), (1,)))
    assert check(p, start) == []
    assert movable_jobs(p, start) == [1]
    result = reassign(p, start, WEIGHTS, later(), late=False)
    assert result.solution == start
    # Without the transient flag the move is free to go and removes the load cost; what is
    # left is money (BASE's price 1 per unit: 3 replicas x (2 + 1)).
    q = replace(p, transient=(False, False))
    moved = reassign(q, start, WEIGHTS, later(), late=False)
    assert moved.solution.assignment == ((1, 1), (0,))
    assert moved.cost == 9 == weighted_cost(q, moved.solution)


def test_frozen_jobs_stay_and_only_count_in_the_usage() -> None:
    # Job 0 is pinned (not migratable) on node 0 with 2 replicas; job 1 is queued and placed
    # on node 0 by the start; only job 1 may move.
    p = jobs(
        2,
        job_replicas=(2, 1),
        job_current=((0, 0), None),
        job_move_cost=(-1, -1),
        node_safety=((2, 8), (4, 8)),
        load_weight=(5, 0),
    )
    start = Solution(((0, 0), (0,)))
    assert movable_jobs(p, start) == [1]
    result = reassign(p, start, WEIGHTS, later(), late=False)
    assert result.solution.assignment[0] == (0, 0)
    assert result.solution.assignment[1] == (1,)
    assert result.cost == weighted_cost(p, result.solution)


def _migratable(seed: int) -> Problem:
    p = random_problem(seed)
    current = p.job_current or (None,) * p.num_jobs
    moves = tuple(seed % 4 if cur is not None else -1 for cur in current)
    return replace(p, job_move_cost=moves)


@pytest.mark.parametrize("seed", range(60))
def test_random_problems_stay_feasible_and_the_cost_is_exact(seed: int) -> None:
    p = _migratable(seed)
    start = solve(p, params=EngineParams(time_limit_s=0.2, use_lns=False, use_cpsat=False)).solution
    # random_problem builds a feasible "everyone stays" state, so the engine always answers.
    assert start is not None
    assert check(p, start) == []
    before = Reassign(p, start, WEIGHTS).cost
    assert before == weighted_cost(p, start)
    result = reassign(p, start, WEIGHTS, later(0.05), seed=seed)
    assert check(p, result.solution) == []
    assert result.cost <= before
    assert result.cost == weighted_cost(p, result.solution)
    # Incremental bookkeeping == a state rebuilt from the answer.
    assert Reassign(p, result.solution, WEIGHTS).cost == result.cost
    # Nothing placed or left out, frozen jobs untouched.
    movable = set(movable_jobs(p, start))
    for j, (old, new) in enumerate(zip(start.assignment, result.solution.assignment, strict=True)):
        assert (old is None) == (new is None)
        if j not in movable:
            assert old == new


def test_a_step_budget_repeats() -> None:
    start = Solution(ROADEF_INITIAL)
    runs = [reassign(ROADEF, start, WEIGHTS, later(), seed=7, steps=300).solution for _ in range(2)]
    assert runs[0] == runs[1]


def test_engine_runs_it_on_rebalancing_problems_beyond_exact_cp_sat() -> None:
    events: list[str] = []
    out = solve(
        ROADEF,
        params=EngineParams(time_limit_s=1.0, deterministic=False, exact_max_pairs=0),
        progress=lambda event, _: events.append(event),
    )
    assert "reassign_done" in events
    assert out.solution is not None
    assert weighted_cost(ROADEF, out.solution) == 2411


def test_avoidable_resources_weigh_more_in_the_first_walk_only() -> None:
    """r1's total use (28) is below the nodes' total safety (44): avoidable; with r2's safety
    cut to 200 against a use of 230 it is not. Late acceptance's first walk then weighs r1
    five times (the state's costs recomputed exactly as the evaluator's with that weight),
    and the answer is scored with the problem's own weights again. With both avoidable, as in
    the statement's example, both are boosted; with neither, nothing is."""
    start = Solution(ROADEF_INITIAL)
    both = _boosted_load_weights(Reassign(ROADEF, start, WEIGHTS))
    assert both is not None and both.tolist() == [500, 50]
    tight = replace(ROADEF, node_safety=((2, 20), (2, 20), (2, 20), (2, 20)))
    assert _boosted_load_weights(Reassign(tight, start, WEIGHTS)) is None
    p = replace(ROADEF, node_safety=((16, 50), (8, 50), (12, 50), (8, 50)))
    state = Reassign(p, start, WEIGHTS)
    boosted = _boosted_load_weights(state)
    assert boosted is not None and boosted.tolist() == [500, 10]
    state.set_load_weights(boosted)
    assert state.cost == weighted_cost(replace(p, load_weight=(500, 10)), start)
    for steps, kernel in ((None, False), (400, False), (400, True)):
        result = reassign(p, start, WEIGHTS, later(0.5), seed=1, steps=steps, kernel=kernel)
        assert check(p, result.solution) == []
        assert result.cost == weighted_cost(p, result.solution)
        assert result.saved == weighted_cost(p, start) - result.cost
    again = reassign(p, start, WEIGHTS, later(), seed=1, steps=400)
    assert again.solution == reassign(p, start, WEIGHTS, later(), seed=1, steps=400).solution


def test_late_acceptance_draws_from_a_growing_window_of_the_biggest_jobs() -> None:
    """The window starts at the biggest tenth of the movable jobs and takes all of them from
    half of the walk on; the jobs are ordered by demand over each resource's mean capacity.
    With and without it the walk (Python and kernel) stays feasible, exact and repeatable."""
    assert [window(100, done) for done in (0.0, 0.25, 0.5, 0.9, 1.0)] == [10, 55, 100, 100, 100]
    assert window(4, 0.0) == 1  # never empty
    state = Reassign(ROADEF, Solution(ROADEF_INITIAL), WEIGHTS)
    scale = state.cap.mean(axis=0)
    sizes = [(state.demand[j] / scale).sum() for j in state.by_size]
    assert sizes == sorted(sizes, reverse=True)
    assert sorted(state.by_size.tolist()) == sorted(state.movable)
    start = Solution(ROADEF_INITIAL)
    for grow in (True, False):
        for kernel in (False, True):
            runs = [
                reassign(
                    ROADEF, start, WEIGHTS, later(), seed=2, steps=300, kernel=kernel, window=grow
                )
                for _ in range(2)
            ]
            assert runs[0].solution == runs[1].solution
            assert check(ROADEF, runs[0].solution) == []
            assert runs[0].cost == weighted_cost(ROADEF, runs[0].solution)


def test_loading_the_kernel_is_not_charged_to_a_step_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a step budget the deadline caps walking only: a kernel that takes longer to load
    than the whole cap (as numba's cache does in a fresh process) still walks every step,
    to the same answer as when it loads at once."""
    from scheduler.placement.search.kernel import compiled, late

    start = Solution(ROADEF_INITIAL)

    def walk() -> tuple[Solution, int]:
        result = reassign(ROADEF, start, WEIGHTS, later(0.2), seed=4, steps=300, kernel=True)
        return result.solution, result.moves

    quick = walk()
    assert quick[1] > 10  # the walk's moves, not only the descent's
    real, slow = compiled.warm_up, [True]

    def slow_first(*args: Any) -> float:
        if slow:
            slow.pop()
            time.sleep(0.4)
        return real(*args)

    monkeypatch.setattr(compiled, "warm_up", slow_first)
    monkeypatch.setattr(late, "_loaded", [False])  # as in a fresh process
    assert walk() == quick
    assert not slow  # the slow load happened
    # Once loaded, a walk does not build its arrays a second time to load it again.
    assert late.load(Reassign(ROADEF, start, WEIGHTS)) == 0.0
