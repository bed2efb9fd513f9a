"""The engine's gap target (early stop) and what it does with a good warm start."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from benchmarks.synthetic import Spec, churn, generate
from scheduler.placement import engine
from scheduler.placement.cpsat.solver import CpSatModel
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.scale import objective_scale
from scheduler.placement.judges.verify import check
from scheduler.placement.lp.bound import LpBound
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.model.outcome import Status
from scheduler.placement.model.params import EngineParams
from scheduler.placement.stages import construct, focus, relax
from tests.placement.cpsat.helpers import tiny
from tests.placement.engine.helpers import Events, solve_with_events


def _stops(events: Events) -> list[object]:
    return [fields["after"] for event, fields in events if event == "early_stop"]


@pytest.fixture(scope="module")
def roomy() -> Problem:
    """A synthetic city with half as much demand as capacity: greedy places every job."""
    spec = Spec("T", jobs=120, nodes=16, clusters=3, regions=2, departments=3, demand_ratio=0.5)
    return generate(spec, 1)


@pytest.fixture(scope="module")
def churned() -> tuple[Problem, Solution]:
    """The next cycle of a small contended city after 5% churn, and its warm start."""
    city = generate(Spec("T", jobs=120, nodes=16, clusters=3, regions=2, departments=3), 3)
    first = engine.solve(city, params=EngineParams(time_limit_s=0.3, exact_max_pairs=10)).solution
    assert first is not None
    return churn(city, first, 0.05, 3)


@pytest.mark.parametrize("gap", [-0.01, 1.0, 2.5, math.nan, math.inf, True, "0.01"])
def test_invalid_gap_targets_are_rejected(gap: object) -> None:
    """A gap target outside [0, 1), not finite, or not a number is refused by name."""
    with pytest.raises(ValueError, match="gap_target"):
        EngineParams(gap_target=gap)  # type: ignore[arg-type]


@pytest.mark.parametrize("gap", [0, 0.0, 1e-9, 0.5, 0.999])
def test_valid_gap_targets_are_accepted(gap: float) -> None:
    """Zero and every fraction below one are valid gap targets."""
    assert EngineParams(gap_target=gap).gap_target == gap


def test_greedy_within_target_returns_before_the_search(roomy: Problem) -> None:
    """Greedy places every job at a cost 4.8% above the LP's cost bound: with a 5% target the
    engine returns right after the bound, far inside its 5 s limit, without CP-SAT or LNS."""
    o, events = solve_with_events(roomy, EngineParams(time_limit_s=5.0, gap_target=0.05))
    assert o.solution is not None and check(roomy, o.solution) == []
    assert o.status is Status.FEASIBLE  # not proven: the target, not optimality, stopped it
    assert o.gap is not None and 0 < o.gap <= 0.05
    assert o.source == o.greedy_name
    assert o.timings.cpsat_ms == 0 and o.timings.lns_ms == 0
    assert o.timings.total_ms < 1000
    assert _stops(events) == ["lp_bound"]


def test_a_target_holds_the_cost_tier_once_everything_is_placed(roomy: Problem) -> None:
    """With a 0.1% target the same greedy answer, every job placed but 4.8% dearer than the
    bound's cost, no longer stops the engine (relative to the whole value, which work
    dominates, it was within 1e-9): LP rounding's answer, within 0.1% of the cost bound, does."""
    o, events = solve_with_events(roomy, EngineParams(time_limit_s=5.0, gap_target=0.001))
    assert o.solution is not None and check(roomy, o.solution) == []
    assert o.source != o.greedy_name and o.value is not None and o.greedy_value is not None
    assert o.value > o.greedy_value  # the same work, a lower cost
    big = objective_scale(roomy).work_weight
    work_bound = -(-o.upper_bound // big)
    assert -(-o.value // big) == work_bound  # every job the bound allows is placed
    cost, cost_bound = big * work_bound - o.value, big * work_bound - o.upper_bound
    assert cost - cost_bound <= 0.001 * cost_bound
    assert _stops(events) and _stops(events)[0] != "lp_bound"


def test_without_a_target_the_same_instance_searches(roomy: Problem) -> None:
    """gap_target=0 keeps the search: CP-SAT runs on the instance the target cut short."""
    o, events = solve_with_events(roomy, EngineParams(time_limit_s=0.2))
    assert o.timings.cpsat_ms > 0
    assert _stops(events) == []


@pytest.mark.parametrize("gap", [0.0, 0.01])
def test_warm_start_at_the_optimum_is_returned_as_is(gap: float) -> None:
    """A warm start that places every job at no cost equals the all-placed bound (every job
    placed at its least cost, lp/all_placed.py): the engine returns it unchanged before any
    stage -- no LP, baselines or search -- with or without a target."""
    p = tiny(job_demand=((2, 4), (2, 4), (2, 4)))
    warm = Solution(((0,), (1,), (0,)))
    o, events = solve_with_events(p, EngineParams(time_limit_s=5.0, gap_target=gap), warm)
    assert o.status is Status.OPTIMAL
    assert o.source == "warm_start" and o.solution == warm
    assert o.timings.cpsat_ms == 0 and o.timings.lns_ms == 0
    assert o.timings.greedy_ms == 0 and o.greedy_value is None
    assert [e for e, _ in events] == ["all_placed_bound", "early_stop"]
    assert _stops(events) == ["warm_start"]


def test_warm_start_within_target_skips_the_search(churned: tuple[Problem, Solution]) -> None:
    """A warm start that meets a generous target but leaves jobs unplaced is not returned as is:
    one stage that places (the queue's best fit) runs first, then the target skips the LP
    rounding, the baselines and LNS once the LP bound is known. (The gap counts running work,
    so a start can be "within 0.1%" with a fitting job left queued.)"""
    p, warm = churned
    assert any(a is None for a in warm.assignment)
    o, events = solve_with_events(
        p, EngineParams(time_limit_s=5.0, exact_max_pairs=10, gap_target=0.5), warm
    )
    assert o.gap is not None and o.gap <= 0.5
    assert o.source == "best_fit" and o.timings.lns_ms == 0 and o.timings.cpsat_ms == 0
    assert [e for e, _ in events] == ["queue_fill_done", "lp_done", "early_stop"]
    assert _stops(events) == ["lp_bound"]


def test_good_warm_start_searches_what_changed_first(
    monkeypatch: pytest.MonkeyPatch, churned: tuple[Problem, Solution]
) -> None:
    """With a good warm start a focused search runs before LNS anywhere, and each of its
    pieces decides only nodes the warm start leaves room on; without one it does not run."""
    p, warm = churned
    pieces: list[frozenset[int]] = []

    class Recording(CpSatModel):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            pieces.append(self.scope.nodes)

    # LNS builds its pieces through lns.py's own import: only the focused ones are recorded.
    monkeypatch.setattr(focus, "CpSatModel", Recording)
    params = EngineParams(time_limit_s=0.3, exact_max_pairs=10)
    o, events = solve_with_events(p, params, warm)
    assert o.solution is not None and check(p, o.solution) == []
    names = [event for event, _ in events]
    assert "focus_done" in names and names.index("focus_done") < names.index("lns_done")
    room = set(focus.changed_nodes(Facts(p), warm))
    assert 0 < len(room) < p.num_nodes
    assert pieces and all(nodes <= room for nodes in pieces)
    _, cold = solve_with_events(p, params)
    assert "focus_done" not in [event for event, _ in cold]


@pytest.mark.parametrize("gap", [0.0, 1e-5])
def test_deterministic_mode_repeats_with_warm_start(
    churned: tuple[Problem, Solution], gap: float
) -> None:
    """Deterministic mode gives the same answer twice from a warm start, with or without a
    gap target (a stop depends on values only)."""
    p, warm = churned
    params = EngineParams(time_limit_s=0.3, seed=7, exact_max_pairs=10, gap_target=gap)
    first, _ = solve_with_events(p, params, warm)
    second, _ = solve_with_events(p, params, warm)
    assert first.solution == second.solution
    assert first.value == second.value and first.source == second.source


def _no_rounding(_p: Problem, _w: ObjectiveWeights, _lp: LpBound, **_kw: object) -> Solution | None:
    return None


@pytest.mark.parametrize("exact_max_pairs", [10, 100_000])
def test_search_stops_at_the_target(
    monkeypatch: pytest.MonkeyPatch, churned: tuple[Problem, Solution], exact_max_pairs: int
) -> None:
    """LNS (between steps) and exact CP-SAT (at a solution) stop once the answer is within
    the target: here half of greedy's gap to the bound (no LP rounding to start from)."""
    p, _ = churned
    monkeypatch.setattr(relax, "lp_round", _no_rounding)
    base = EngineParams(time_limit_s=2.0, exact_max_pairs=exact_max_pairs, use_cpsat=False)
    greedy, _ = solve_with_events(p, replace(base, use_lns=False))
    assert greedy.gap is not None and greedy.gap > 0
    target = greedy.gap / 2
    params = replace(base, use_cpsat=True, gap_target=target)
    o, events = solve_with_events(p, params)
    assert o.solution is not None and check(p, o.solution) == []
    assert o.gap is not None and o.gap <= target
    assert _stops(events) == ["lns" if exact_max_pairs == 10 else "cpsat"]


def test_a_quiet_cycle_is_proven_by_the_all_placed_bound_before_the_lp() -> None:
    """The city's quiet cycle: what runs may not move and holds half of the cheap node, two
    new jobs are queued. The queue stage's best fit places them in the cheap room left, the
    all-placed bound equals its value (proven optimal), and the run stops before the LP is
    built, even with a 0.1% target on the cost (the month slice: 72 of 73 decisions)."""
    p = tiny(
        node_group=(0, 1),
        group_cost=((3, 0), (1, 0)),
        job_demand=((2, 4), (1, 1), (1, 1)),
        job_current=((1,), None, None),
    )
    warm = Solution(((1,), None, None))
    o, events = solve_with_events(p, EngineParams(time_limit_s=5.0, gap_target=0.001), warm)
    assert o.solution is not None and check(p, o.solution) == []
    assert o.solution.assignment[1:] == ((1,), (1,))
    assert o.status is Status.OPTIMAL and o.source == "best_fit"
    assert [e for e, _ in events] == ["queue_fill_done", "all_placed_bound", "early_stop"]
    assert _stops(events) == ["queue"]
    assert o.timings.cpsat_ms == 0 and o.timings.lns_ms == 0


def test_contended_room_leaves_the_bound_loose_and_the_lp_decides() -> None:
    """The same cycle with the cheap node's room for one queued job only: the bound's floor
    counts both there (a relaxation), so it does not prove best fit's answer, and the LP runs."""
    p = tiny(
        node_group=(0, 1),
        group_cost=((3, 0), (1, 0)),
        job_demand=((3, 6), (1, 1), (1, 1)),
        job_current=((1,), None, None),
    )
    o, events = solve_with_events(
        p, EngineParams(time_limit_s=5.0, gap_target=0.001), Solution(((1,), None, None))
    )
    assert o.solution is not None and check(p, o.solution) == []
    names = [e for e, _ in events]
    assert names[:3] == ["queue_fill_done", "all_placed_bound", "lp_done"]
    assert sorted(o.solution.assignment[1:]) == [(0,), (1,)]  # type: ignore[type-var]


def test_deterministic_late_baselines_are_skipped_when_they_cost_more_than_the_limit(
    churned: tuple[Problem, Solution],
) -> None:
    """After a good warm start the greedy rules run late; in deterministic mode (no clock)
    they are skipped when their estimated cost, a function of the problem's size, exceeds the
    whole time limit, so the decision repeats."""
    p, warm = churned
    estimate = 4 * p.num_jobs * construct._BASELINE_S_PER_JOB
    for limit, skipped in ((estimate * 20, False), (estimate / 2, True)):
        params = EngineParams(time_limit_s=limit, exact_max_pairs=10)
        o, events = solve_with_events(p, params, warm)
        assert o.solution is not None and check(p, o.solution) == []
        names = [event for event, _ in events]
        assert "focus_done" in names
        after = names[names.index("focus_done") :]
        assert ("baselines_skipped" in after, "baselines_done" in after) == (skipped, not skipped)
