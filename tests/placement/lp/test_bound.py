"""The LP bound: never below the optimum, tight where the relaxation is exact."""

from __future__ import annotations

from dataclasses import replace

import pytest

from benchmarks.synthetic import generate
from scheduler.placement.index.aggregate import View, classify
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.lp.bound import lp_bound, lp_pairs
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from tests.placement.cpsat.helpers import exact
from tests.placement.lp.instances import optimum, tiny_problem
from tests.placement.random_problems import random_problem

LEXICOGRAPHIC = ObjectiveWeights()
WEIGHTED = ObjectiveWeights(work=3, money=2, energy=5, preemption=4, migration=2)


@pytest.mark.parametrize("weights", [LEXICOGRAPHIC, WEIGHTED], ids=["lexicographic", "weighted"])
def test_bound_is_at_least_the_brute_force_optimum(weights: ObjectiveWeights) -> None:
    """On 120 tiny problems (gangs, node sets, prices, overrides, quotas, open costs, running
    jobs) the bound is at least the best value over every feasible answer."""
    tight = 0
    for seed in range(120):
        p = tiny_problem(seed)
        best = optimum(p, weights)
        bound = lp_bound(p, weights)
        if best is None:
            continue
        assert bound.value is not None, seed
        assert bound.value >= best, (seed, bound.value, best)
        tight += bound.value == best
    assert tight > 10  # and it is not vacuous: often exactly the optimum


def test_bound_is_at_least_the_cpsat_optimum_with_every_feature() -> None:
    """With devices, services, balances and evictions too, the bound is at least the optimum
    that exact CP-SAT proves (its answer checked and valued by the independent judges)."""
    for seed in range(40):
        p = random_problem(seed)
        _, best = exact(p, LEXICOGRAPHIC)
        bound = lp_bound(p, LEXICOGRAPHIC)
        assert bound.value is not None, seed
        assert bound.value >= best.value, (seed, bound.value, best.value)


def _single_resource(capacity: tuple[int, ...], sizes: tuple[int, ...]) -> Problem:
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
    )


def test_bound_is_exact_for_divisible_sizes() -> None:
    """One resource, sizes dividing the node capacity and more demand than room: the bound is
    the value of filling every node, which an answer reaches."""
    p = _single_resource((8, 8, 8), (4, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 4, 2))
    bound = lp_bound(p, LEXICOGRAPHIC)
    # Nodes 0 and 1 take the four 4s, node 2 the 2s, the 1s stay out: equal work per unit.
    full = Solution(
        ((0,), (0,), (1,), (2,), (2,), (2,), (2,)) + (None,) * 8 + ((1,), None),
    )
    value = evaluate(p, full, LEXICOGRAPHIC).value
    assert bound.value == value
    assert bound.work == evaluate(p, full, LEXICOGRAPHIC).work


def test_vector_bin_packing_bound_counts_bins() -> None:
    """Every job required, opening a node costs 1: the bound is minus the LP's bin count,
    which counts one bin per item above half a bin (volume alone would say two)."""
    nodes = 6
    p = replace(
        _single_resource((10,) * nodes, (6, 6, 6, 2)),
        job_required=(True,) * 4,
        node_open_cost=(1,) * nodes,
    )
    bound = lp_bound(p, LEXICOGRAPHIC)
    best = evaluate(p, Solution(((0,), (1,), (2,), (0,))), LEXICOGRAPHIC)
    assert best.energy == 3
    assert bound.value == best.value  # three bins, proven by the LP
    assert bound.work == best.work


def test_infeasible_required_job_gives_no_bound() -> None:
    """A required job that fits no node makes the relaxation infeasible: value None."""
    p = replace(_single_resource((4,), (5,)), job_required=(True,))
    assert lp_bound(p, LEXICOGRAPHIC).value is None


def test_bound_covers_the_lp_optimum_and_reports_its_plan() -> None:
    """The weak-duality bound is at least what the LP plan is worth and within one unit of
    work of it; the plan's replicas respect each class pair's per-node limit."""
    p = tiny_problem(0)
    bound = lp_bound(p, LEXICOGRAPHIC)
    assert bound.status == "optimal"
    assert bound.work is not None
    planned = sum(bound.classes.jobs[k].work * z for (k, _), z in bound.jobs.items())
    fixed = sum(bound.view.work[j] for j in range(p.num_jobs) if bound.view.fixed[j])
    assert fixed + planned - 1e-6 <= bound.work + 1 <= fixed + planned + 2
    for pair, x in zip(bound.pairs, bound.replicas, strict=True):
        size = bound.classes.nodes[pair.node_class].size
        assert -1e-9 <= x <= size * pair.per_node + 1e-6


def test_lp_pairs_is_at_least_the_pairs_built() -> None:
    """The engine's size gate (lp_pairs) never counts fewer pairs than the LP builds."""
    for seed in range(40):
        p = random_problem(seed)
        view = View(p)
        classes = classify(view)
        assert lp_pairs(view, classes) >= len(lp_bound(p, LEXICOGRAPHIC).pairs), seed


def test_a_cost_lp_cut_short_leaves_the_bound_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the second (cost) LP ends without an answer, e.g. out of time, the bound stays at
    least the optimum: only a proven infeasible cost LP rules out the work bound."""
    from ortools.linear_solver import pywraplp

    solve = pywraplp.Solver.Solve
    calls = {"n": 0}

    def first_only(self: pywraplp.Solver) -> int:
        calls["n"] += 1
        return solve(self) if calls["n"] % 2 == 1 else pywraplp.Solver.NOT_SOLVED

    monkeypatch.setattr(pywraplp.Solver, "Solve", first_only)
    checked = 0
    for seed in range(120):
        p = tiny_problem(seed)
        calls["n"] = 0
        bound = lp_bound(p, LEXICOGRAPHIC, costs=True)
        best = optimum(p, LEXICOGRAPHIC)
        if best is None or calls["n"] < 2:
            continue
        checked += 1
        assert bound.value is not None and bound.value >= best, (seed, bound.value, best)
    assert checked > 10


def test_the_bound_without_the_cost_stage_is_still_at_least_the_optimum() -> None:
    """Skipping the cost LP (large problems) keeps the bound valid on tiny problems with
    running preemptible jobs, whose kept eviction costs are negative costs in the LP."""
    for seed in range(120):
        p = tiny_problem(seed)
        best = optimum(p, LEXICOGRAPHIC)
        if best is None:
            continue
        bound = lp_bound(p, LEXICOGRAPHIC, costs=False)
        assert bound.value is not None and bound.value >= best, (seed, bound.value, best)


def test_should_stop_interrupts_the_solve_and_the_bound_stays_valid() -> None:
    """On the synthetic M city (10,000 jobs x 1,000 nodes; GLOP needs well over the watcher's
    first poll) a should_stop that says True from the moment the LP is whole ends the solve
    early: the status is that of a solve cut short, and the bound, from the duals GLOP had, is
    still at least the LP optimum. Without should_stop the same LP is solved to optimality."""
    p = generate("M", 1)
    full = lp_bound(p, LEXICOGRAPHIC)
    built = False
    asked = 0

    def progress(event: str, fields: object) -> None:
        nonlocal built
        built = built or event == "lp_built"

    def stop() -> bool:  # True from the moment the LP is whole: the solve is what it cuts
        nonlocal asked
        asked += built
        return built

    cut = lp_bound(p, LEXICOGRAPHIC, should_stop=stop, progress=progress)
    assert full.status == "optimal" and full.value is not None
    assert cut.status == "time_limit" and asked >= 1
    assert cut.constraints == full.constraints  # the whole LP was built, then cut short
    assert cut.value is not None and cut.value >= full.value


def test_should_stop_ends_the_build_and_the_bound_stays_valid() -> None:
    """Asked while the LP is built, should_stop ends the build part-way: on the synthetic M
    city it is asked before each class, and the LP handed back is the part built so far; the
    bound (every job placed at the least cost any plan could have) is at least the LP optimum.
    """
    p = generate("M", 1)
    full = lp_bound(p, LEXICOGRAPHIC)
    asked = 0

    def stop() -> bool:  # says True at its fourth question, inside the build
        nonlocal asked
        asked += 1
        return asked >= 4

    cut = lp_bound(p, LEXICOGRAPHIC, should_stop=stop)
    assert asked == 4
    assert cut.status == "time_limit" and cut.solve_s == 0.0
    assert 0 < cut.constraints < full.constraints
    assert full.value is not None and cut.value is not None and cut.value >= full.value


@pytest.mark.parametrize("weights", [LEXICOGRAPHIC, WEIGHTED], ids=["lexicographic", "weighted"])
def test_a_bound_without_an_lp_solution_is_at_least_the_optimum(weights: ObjectiveWeights) -> None:
    """With the build stopped at once there is no LP to solve; the bound then places every job
    at the least cost any plan could have, on the 120 tiny problems (running preemptible jobs
    among them, whose kept evictions are negative costs) at least the best value."""
    stopped = 0
    for seed in range(120):
        p = tiny_problem(seed)
        best = optimum(p, weights)
        if best is None:
            continue
        bound = lp_bound(p, weights, should_stop=lambda: True)
        # Else no job class to build (GLOP's watcher may still find the tiny LP solved).
        stopped += bound.status == "time_limit"
        assert bound.value is not None and bound.value >= best, (seed, bound.value, best)
    assert stopped > 60
