"""Local search: its moves keep answers valid and never lose value."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from benchmarks.synthetic import Spec, generate
from scheduler.placement.greedy.baselines import best_baseline
from scheduler.placement.index.aggregate import View, classify
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.search.budget import Budget
from scheduler.placement.search.eject import gang_pass, shift_into
from scheduler.placement.search.local_search import improve
from scheduler.placement.search.packing import Packing
from tests.placement.random_problems import random_problem

WEIGHTS = ObjectiveWeights()


def _one_resource(capacity: tuple[int, ...], sizes: tuple[int, ...], **extra: object) -> Problem:
    return Problem(
        resources=("cpu",),
        node_capacity=tuple((c,) for c in capacity),
        node_group=(0,) * len(capacity),
        group_cost=((0,),),
        node_sets=(tuple(range(len(capacity))),),
        job_demand=tuple((s,) for s in sizes),
        job_replicas=(1,) * len(sizes),
        job_priority=(0,) * len(sizes),
        job_order=tuple(range(len(sizes))),
        job_nodes=(0,) * len(sizes),
        **extra,  # type: ignore[arg-type]
    )


def test_eject_moves_a_small_job_aside_for_a_big_one() -> None:
    """Two nodes of 4 each hold a 1 and a 3 badly mixed; the unplaced 4 gets a node once the
    1 moves beside the 3."""
    p = _one_resource((4, 4), (1, 3, 4))
    start = Solution(((0,), (1,), None))
    better = improve(p, WEIGHTS, start, time.monotonic() + 5)
    assert check(p, better) == []
    assert all(nodes is not None for nodes in better.assignment)


def test_improving_a_greedy_answer_keeps_it_valid_and_never_worse() -> None:
    """From the best greedy baseline, random feature-rich problems and a small city only
    gain value, and every answer passes the checker."""
    problems = [random_problem(seed) for seed in range(40)]
    problems.append(generate(Spec("T", jobs=200, nodes=20, clusters=3, departments=3), 1))
    for p in problems:
        _, start, before = best_baseline(p, WEIGHTS)
        after = improve(p, WEIGHTS, start, time.monotonic() + 5)
        assert check(p, after) == []
        assert evaluate(p, after, WEIGHTS).value >= before.value


def test_consolidation_closes_a_node() -> None:
    """With an open cost per node, two half-used nodes become one."""
    p = _one_resource((4, 4), (2, 2), node_open_cost=(1, 1))
    start = Solution(((0,), (1,)))
    better = improve(p, WEIGHTS, start, time.monotonic() + 5)
    assert check(p, better) == []
    assert evaluate(p, better, WEIGHTS).energy == 1


def test_cheaper_group_is_taken_when_it_has_room() -> None:
    """A job placed in the dearer of two groups moves to the cheaper one."""
    p = Problem(
        resources=("cpu",),
        node_capacity=((4,), (4,)),
        node_group=(0, 1),
        group_cost=((5,), (1,)),
        node_sets=((0, 1),),
        job_demand=((2,),),
        job_replicas=(1,),
        job_priority=(0,),
        job_order=(0,),
        job_nodes=(0,),
    )
    better = improve(p, WEIGHTS, Solution(((0,),)), time.monotonic() + 5)
    assert better.assignment == ((1,),)


def test_step_budget_stops_the_search_at_the_same_point() -> None:
    """A step budget (not wall time) gives the same answer on every run, and a larger one
    never a worse answer than no search at all."""
    p = generate(Spec("T", jobs=200, nodes=20, clusters=3, departments=3), 2)
    _, start, before = best_baseline(p, WEIGHTS)
    first = improve(p, WEIGHTS, start, steps=50)
    second = improve(p, WEIGHTS, start, steps=50)
    assert first == second
    assert evaluate(p, first, WEIGHTS).value >= before.value


def test_gang_gets_a_group_by_evicting_less_work() -> None:
    """A two-replica gang worth more than the two single jobs that block its group takes
    their nodes; they move to the other group's node if they fit there."""
    p = Problem(
        resources=("cpu",),
        node_capacity=((4,), (4,), (4,)),
        node_group=(0, 0, 1),
        group_cost=((0,), (0,)),
        node_sets=((0, 1), (0, 1, 2)),
        job_demand=((4,), (2,), (2,)),
        job_replicas=(2, 1, 1),
        job_priority=(5, 0, 0),
        job_order=(0, 1, 2),
        job_nodes=(0, 1, 1),
    )
    start = Solution((None, (0,), (1,)))
    better = improve(p, WEIGHTS, start, steps=1000)
    assert check(p, better) == []
    assert better.assignment == ((0, 1), (2,), (2,))


def test_required_job_shifts_others_instead_of_evicting() -> None:
    """Every job required (as in GAP): a job that fits nowhere gets a node once another
    required job moves to where it still fits; nothing is unplaced."""
    p = _one_resource((5, 3), (3, 2, 3), job_required=(True, True, True))
    view = View(p)
    state = Packing(view, classify(view))
    state.add(0, 0)
    state.add(1, 1)
    assert not state.place(2)
    assert shift_into(state, 2)
    s = state.solution()
    assert check(p, s) == []
    assert all(nodes is not None for nodes in s.assignment)


def test_trial_delta_equals_the_evaluators_difference() -> None:
    """The objective change a move is judged by is exactly what the evaluator sees: random
    removals and placements on feature-rich problems (devices, loads, balances, open costs)."""
    import random

    for seed in range(40):
        p = random_problem(seed)
        _, start, _ = best_baseline(p, WEIGHTS)
        view = View(p)
        state = Packing(view, classify(view), start, weights=WEIGHTS)
        for j in range(p.num_jobs):
            state.frozen[j] = view.current[j] is not None or j in view.in_service
        rng = random.Random(seed)
        for _ in range(5):
            before = evaluate(p, state.solution(), WEIGHTS).value
            state.trial()
            for j in rng.sample(range(p.num_jobs), p.num_jobs):
                if state.frozen[j]:
                    continue
                if state.where[j] is not None and rng.random() < 0.5:
                    state.remove(j)
                elif state.where[j] is None:
                    state.place(j)
            after = state.solution()
            assert check(p, after) == [], seed
            assert state.delta() == evaluate(p, after, WEIGHTS).value - before, seed
            state.commit()


def test_gang_pass_asks_for_room_again_only_after_an_eviction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gang that no node holds, beside work worth more than it on every one of 40 nodes
    (nothing to evict): the gang pass searches the group once, not once per node (it was
    quadratic in the nodes), and leaves everything as it was."""
    nodes = 40
    p = Problem(
        resources=("cpu",),
        node_capacity=((4,),) * nodes,
        node_group=(0,) * nodes,
        group_cost=((0,),),
        node_sets=(tuple(range(nodes)),),
        job_demand=((4,), *((1,),) * nodes),
        job_replicas=(2, *(1,) * nodes),
        job_priority=(0, *(9,) * nodes),
        job_order=tuple(range(nodes + 1)),
        job_nodes=(0,) * (nodes + 1),
    )
    start = Solution((None, *((n,) for n in range(nodes))))
    view = View(p)
    state = Packing(view, classify(view), start, weights=WEIGHTS)
    state.frozen[0] = False
    calls = []
    place_in = Packing.place_in

    def counted(self: Packing, j: int, cls: Sequence[int], forbid: int = -1) -> bool | None:
        calls.append(j)
        return place_in(self, j, cls, forbid)

    monkeypatch.setattr(Packing, "place_in", counted)
    assert gang_pass(state, Budget()) == 0
    assert calls == [0]
    assert state.solution() == start
