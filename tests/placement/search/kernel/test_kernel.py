"""The compiled move kernel (scheduler.placement.search.kernel): its deltas and trials equal the
Python reassignment search's exact ones, and its late acceptance answers what the judges accept."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.tracks import roadef
from scheduler.placement import EngineParams, solve
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.search.kernel import compiled, late
from scheduler.placement.search.kernel.arrays import COST, applies, build
from scheduler.placement.search.reassign import Reassign, reassign
from tests.benchmarks.tracks.conftest import locate_benchdata
from tests.placement.build import ROADEF, ROADEF_INITIAL
from tests.placement.random_problems import random_problem

WEIGHTS = ObjectiveWeights()
# A limit no delta reaches: try_moves then keeps every feasible move.
ANY = 1 << 62


def _compare(p: Problem, start: Solution, rng: random.Random, tries: int) -> int:
    """Scores `tries` random shifts and swaps with both searches on the same walk through the
    states (about half of the feasible moves are kept by both); asserts they agree on every
    one. Returns how many were feasible."""
    state = Reassign(p, start, WEIGHTS)
    s, x = build(state)
    movable = state.movable
    feasible = 0
    for _ in range(tries):
        j = rng.choice(movable)
        a = int(state.where[j])
        if rng.random() < 0.5:
            b = rng.randrange(p.num_nodes)
            k = -1
            delta = compiled.shift_delta(s, x, j, b)
            moves, back = [(j, b)], [(j, a)]
            kept = compiled.try_shift(s, x, j, b)
        else:
            k = rng.choice(movable)
            b = int(state.where[k])
            delta = compiled.swap_delta(s, x, j, k) if a != b else None
            moves, back = [(j, b), (k, a)], [(k, b), (j, a)]
            kept = a != b and compiled.try_swap(s, x, j, k)
        before = state.cost
        python_kept = a != b and state.try_moves(moves, ANY)
        assert kept == python_kept, (j, k, b)
        if not kept:
            continue
        feasible += 1
        assert delta == state.cost - before, (j, k, b)
        assert int(x.scalars[COST]) == state.cost
        if rng.random() < 0.5:  # undo in both, or walk on
            assert state.try_moves(back, ANY)
            undone = compiled.try_shift(s, x, j, a) if k < 0 else compiled.try_swap(s, x, k, j)
            assert undone and int(x.scalars[COST]) == state.cost
    assert (x.where == state.where).all()
    assert (x.used == state.used).all() and (x.chk == state.chk).all()
    # The cost both kept incrementally is the cost of the placement, computed afresh.
    assert Reassign(p, state.solution(), WEIGHTS).cost == state.cost
    return feasible


def _migratable(seed: int) -> tuple[Problem, Solution]:
    """A random problem with every feature whose running jobs may move, started from the
    engine's quick answer (queued jobs it places may move too)."""
    p = random_problem(seed)
    current = p.job_current or (None,) * p.num_jobs
    q = replace(p, job_move_cost=tuple(seed % 4 if c is not None else -1 for c in current))
    start = solve(q, params=EngineParams(time_limit_s=0.2, use_lns=False, use_cpsat=False)).solution
    assert start is not None and check(q, start) == []
    return q, start


def test_deltas_equal_python_on_the_roadef_statement_example() -> None:
    """Every shift and swap of the statement's example scores and applies as in Python."""
    assert _compare(ROADEF, Solution(ROADEF_INITIAL), random.Random(1), 400) > 20


def test_deltas_equal_python_on_random_problems() -> None:
    """Services (anti-affinity, spread, dependencies), transient holds, prices, open costs and
    frozen jobs: the kernel's verdict and delta equal the Python search's on random moves."""
    compared = feasible = 0
    for seed in range(150):
        p, start = _migratable(seed)
        if not applies(Reassign(p, start, WEIGHTS)):
            continue  # nothing movable in this one
        compared += 1
        feasible += _compare(p, start, random.Random(seed), 200)
    assert compared >= 40 and feasible >= 1_000


def _a2_5() -> tuple[Problem, Solution]:
    root = locate_benchdata() / "roadef2012" / "A"
    inst = roadef.load(Path(root / "model_a2_5.txt"))
    return roadef.to_problem(inst), Solution(tuple((m,) for m in inst.initial))


def test_deltas_equal_python_on_roadef_a2_5() -> None:
    """On a published instance (1,000 processes, 50 machines, services with dependencies)
    the kernel and Python agree on thousands of random moves along a walk."""
    p, start = _a2_5()
    assert _compare(p, start, random.Random(5), 3_000) > 300


def test_late_acceptance_on_the_kernel_is_checked_and_exact() -> None:
    """The kernel's best answer passes the independent checker, costs what a fresh Python
    state says, and improves on the start; a step budget makes it repeat."""
    p, start = _a2_5()
    runs = [
        reassign(p, start, WEIGHTS, time.monotonic() + 60, seed=3, steps=2_000, kernel=True)
        for _ in range(2)
    ]
    assert runs[0].solution == runs[1].solution
    result = runs[0]
    assert check(p, result.solution) == []
    assert result.cost == Reassign(p, result.solution, WEIGHTS).cost
    assert result.cost < Reassign(p, start, WEIGHTS).cost
    assert result.moves > 0


def test_engine_with_the_kernel_reaches_the_statement_optimum() -> None:
    """solve() with move_kernel on finds the example's optimum (2411) through its pool."""
    # Loaded first: a wall-clock walk is charged for loading the kernel, which took 4.3 s in a
    # fresh process under a load of 3, more than this 1-s run (it then failed, one time in two).
    late.load(Reassign(ROADEF, Solution(ROADEF_INITIAL), WEIGHTS))
    out = solve(
        ROADEF,
        params=EngineParams(
            time_limit_s=1.0, deterministic=False, exact_max_pairs=0, move_kernel=True
        ),
    )
    assert out.solution is not None and check(ROADEF, out.solution) == []
    assert Reassign(ROADEF, out.solution, WEIGHTS).cost == 2411
