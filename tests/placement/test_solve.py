"""solve(): known optima on tiny problems, status and bound, fallbacks, progress, determinism."""

from __future__ import annotations

import importlib
import random
from collections.abc import Mapping

import pytest

from scheduler.placement import (
    OUTRANKED,
    Problem,
    Result,
    SolveParams,
    Status,
    check,
    evaluate,
    greedy,
    solve,
)
from scheduler.placement.cpsat_model import CpSatOutcome, PlacementModel
from scheduler.placement.objective import weights
from tests.placement.cases import FAST, make_problem, placed


def _assert_sound(p: Problem, r: Result) -> None:
    assert check(p, r.assignment) == []
    assert r.objective == evaluate(p, r.assignment)
    assert r.greedy_objective <= r.objective <= r.bound


def test_each_resource_limits_what_fits() -> None:
    """Jobs heavy on different resources pair up; FIFO greedy misses it, the solver does not."""
    # C (2,2) first blocks both others; A (3,1) + B (1,3) fill the node exactly.
    p = make_problem(free=[(4, 4)], demand=[(2, 2), (3, 1), (1, 3)])
    r = solve(p, FAST)
    _assert_sound(p, r)
    assert placed(greedy(p)) == {0}
    assert placed(r.assignment) == {1, 2}
    assert r.status is Status.OPTIMAL and r.objective == r.bound
    assert r.objective > r.greedy_objective


def test_gang_is_placed_whole_in_one_group() -> None:
    """A 3-replica gang lands on nodes of a single group, all replicas at once."""
    p = make_problem(
        free=[(2,), (2,), (2,), (4,)], groups=[0, 0, 1, 1], demand=[(2,)], replicas=[3]
    )
    r = solve(p, FAST)
    _assert_sound(p, r)
    assert r.assignment == ((2, 3, 3),)
    assert r.status is Status.OPTIMAL


def test_gang_that_fits_only_across_groups_stays_unplaced() -> None:
    """Two groups of one node each could hold the pair only by splitting it: nothing is placed."""
    p = make_problem(free=[(2,), (2,)], groups=[0, 1], demand=[(2,)], replicas=[2])
    r = solve(p, FAST)
    assert r.assignment == (None,)
    assert [u.reason for u in r.unplaced] == ["GANG_INCOMPLETE"]
    assert r.status is Status.OPTIMAL and r.objective == 0


def test_priority_wins_when_capacity_is_short() -> None:
    """Of two equal jobs competing for one node, the higher priority one is placed."""
    p = make_problem(free=[(4,)], demand=[(4,), (4,)], priority=[0, 5], resources=["cpu"])
    r = solve(p, FAST)
    assert r.assignment == (None, (0,))
    assert r.unplaced[0].reason == OUTRANKED


def test_cheaper_group_is_chosen_when_both_fit() -> None:
    """Equal work in either group: the solver picks the cheaper one and the bound agrees."""
    p = make_problem(free=[(4, 4), (4, 4)], groups=[0, 1], prices=[(3, 3), (1, 2)], demand=[(2, 2)])
    r = solve(p, FAST)
    w = weights(p)
    assert r.assignment == ((1,),)
    assert r.objective == w.big * w.work[0] - (2 * 1 + 2 * 2)
    assert r.status is Status.OPTIMAL


def test_cost_never_trades_away_placed_work() -> None:
    """Paying for a dear group to make room for another job beats the cheap plan placing one."""
    # Cheap group 0 holds 4 cpu, dear group 1 holds 2; greedy puts A in group 0 and B cannot fit.
    p = make_problem(
        free=[(4,), (2,)],
        groups=[0, 1],
        prices=[(1,), (100,)],
        demand=[(2,), (4,)],
        eligible=[(0, 1), (0,)],
        resources=["cpu"],
    )
    r = solve(p, FAST)
    _assert_sound(p, r)
    assert placed(greedy(p)) == {0}
    assert r.assignment == ((1,), (0,))
    assert r.status is Status.OPTIMAL


def test_eligibility_is_respected() -> None:
    """A job allowed only on the dear, tight node goes there although a cheaper node is empty."""
    p = make_problem(
        free=[(8,), (2,)], groups=[0, 1], prices=[(1,), (9,)], demand=[(2,)], eligible=[(1,)],
        resources=["cpu"],
    )  # fmt: skip
    assert solve(p, FAST).assignment == ((1,),)


def test_no_jobs_is_empty() -> None:
    """A problem without jobs returns EMPTY with zero objective and bound."""
    r = solve(make_problem(free=[(4,)], demand=[], resources=["cpu"]), FAST)
    assert (r.status, r.assignment, r.objective, r.bound, r.unplaced) == (
        Status.EMPTY, (), 0, 0, ()
    )  # fmt: skip


def test_greedy_only_when_cpsat_is_off() -> None:
    """use_cpsat=False returns the greedy plan; it is GREEDY unless the bound proves it optimal."""
    p = make_problem(free=[(4, 4)], demand=[(2, 2), (3, 1), (1, 3)])
    r = solve(p, SolveParams(use_cpsat=False))
    assert r.assignment == greedy(p)
    assert r.status is Status.GREEDY
    assert r.bound > r.objective == r.greedy_objective


def test_greedy_that_meets_the_simple_bound_is_optimal_without_search() -> None:
    """When everything that fits is placed at its cheapest, no search runs and status is OPTIMAL."""
    events: list[str] = []
    p = make_problem(free=[(8,)], demand=[(2,), (3,)], resources=["cpu"])
    r = solve(p, FAST, progress=lambda event, _: events.append(event))
    assert r.status is Status.OPTIMAL
    assert "cpsat_start" not in events


def test_progress_reports_through_the_callback() -> None:
    """The callback sees the greedy result, CP-SAT's start, solutions and end, with plain fields."""
    seen: list[tuple[str, Mapping[str, object]]] = []
    p = make_problem(free=[(4, 4)], demand=[(2, 2), (3, 1), (1, 3)])
    solve(p, FAST, progress=lambda event, fields: seen.append((event, fields)))
    events = [e for e, _ in seen]
    assert events[0] == "greedy_done" and events[1] == "cpsat_start"
    assert "cpsat_solution" in events and events[-1] == "cpsat_done"
    assert dict(seen[-1][1])["status"] == "OPTIMAL"


def test_summary_is_one_line() -> None:
    """summary() gives status, placed count, objective, bound, gap and solve time on one line."""
    p = make_problem(free=[(4,)], demand=[(4,), (4,)], resources=["cpu"])
    line = solve(p, FAST).summary()
    assert "\n" not in line
    assert line.startswith("OPTIMAL placed 1/2 objective=")
    assert "bound=" in line and "gap=0.0%" in line and line.endswith("ms")


def _random_problem(seed: int, jobs: int, nodes: int) -> Problem:
    rnd = random.Random(seed)
    caps = [(rnd.choice([8, 16, 32]), rnd.choice([16, 32, 64])) for _ in range(nodes)]
    return make_problem(
        capacity=caps,
        free=[(c - rnd.randint(0, c // 2), m - rnd.randint(0, m // 2)) for c, m in caps],
        groups=[n % 3 for n in range(nodes)],
        prices=[(rnd.randint(1, 5), rnd.randint(1, 3)) for _ in range(3)],
        demand=[(rnd.randint(1, 8), rnd.randint(1, 16)) for _ in range(jobs)],
        replicas=[rnd.choice([1, 1, 2, 3]) for _ in range(jobs)],
        priority=[rnd.choice([0, 1, 5]) for _ in range(jobs)],
        eligible=[[n for n in range(nodes) if rnd.random() < 0.7] for _ in range(jobs)],
    )


def test_same_seed_gives_the_same_result() -> None:
    """Two deterministic solves with one seed agree exactly on a problem CP-SAT cannot close."""
    p = _random_problem(7, jobs=40, nodes=12)
    params = SolveParams(time_limit_s=0.2, seed=3)
    first, second = solve(p, params), solve(p, params)
    _assert_sound(p, first)
    if any("wall-clock cap" in note for result in (first, second) for note in result.notes):
        pytest.skip("machine too loaded: the wall-clock safety cap cut a deterministic run short")
    assert first.status is Status.FEASIBLE  # CP-SAT stopped on its deterministic clock
    assert (first.status, first.assignment, first.objective, first.bound, first.unplaced) == (
        second.status, second.assignment, second.objective, second.bound, second.unplaced
    )  # fmt: skip


def test_checker_rejection_falls_back_to_greedy(monkeypatch: pytest.MonkeyPatch) -> None:
    """If CP-SAT's answer fails the checker, greedy's is returned and the rejection is noted."""

    class Broken(PlacementModel):
        def solve(self, params: SolveParams, progress: object = None) -> CpSatOutcome:
            # Every job on node 0: overflows it and breaks eligibility.
            bad = tuple((0,) * reps for reps in self.p.job_replicas)
            return CpSatOutcome(bad, "FEASIBLE", None, 0.0)

    module = importlib.import_module("scheduler.placement.solve")
    monkeypatch.setattr(module, "PlacementModel", Broken)
    p = make_problem(free=[(4, 4)], demand=[(2, 2), (3, 1), (1, 3)])
    r = solve(p, FAST)
    assert r.assignment == greedy(p)
    assert r.status is Status.GREEDY
    assert any("cp-sat answer failed the checker" in note for note in r.notes)


def test_huge_prices_coarsen_the_cost_unit_but_keep_work_exact() -> None:
    """Prices that would push the objective past 2^53 are counted in a coarser unit; answers stay
    sound, provably optimal, and the cheap cluster is still filled first."""
    big_q, big_p = 1 << 40, (1 << 30) - 1
    p = make_problem(
        free=[(big_q,)] * 4,
        groups=[0, 1, 2, 3],
        prices=[(big_p,), (big_p // 2,), (big_p,), (big_p,)],
        demand=[(big_q // 2,)] * 4,
        priority=[1000] * 4,
        replicas=[2, 1, 1, 1],
        resources=["cpu"],
    )
    w = weights(p)
    assert w.cost_unit > 1
    r = solve(p, FAST)
    _assert_sound(p, r)
    assert r.bound < 1 << 53
    assert r.status is Status.OPTIMAL
    assert placed(r.assignment) == {0, 1, 2, 3}
    on_cheap_node = sum(nodes.count(1) for nodes in r.assignment if nodes is not None)
    assert on_cheap_node == 2
