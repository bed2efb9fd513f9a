"""The caller's should_stop: asked between stages, between steps of LNS, the focused search
and the reassignment search, inside the regret stage, and at CP-SAT solutions; it ends the run
with the best checked answer it holds."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from benchmarks.synthetic import Spec, churn, generate
from benchmarks.tracks import gap
from benchmarks.tracks import gap_generate as gen
from scheduler.placement import EngineParams, Outcome, Problem, Solution, solve
from scheduler.placement.judges.verify import check
from scheduler.placement.search.reassign import reassign
from tests.placement.build import ROADEF

Events = list[tuple[str, dict[str, object]]]


@pytest.fixture(scope="module")
def city() -> Problem:
    """A small contended city: baselines, LP and LNS all run on it."""
    return generate(Spec("T", jobs=120, nodes=16, clusters=3, regions=2, departments=3), 3)


class _StopAfter:
    """Records every event and says stop once `event` was heard `count` times."""

    def __init__(self, event: str, count: int) -> None:
        self.event, self.count = event, count
        self.events: Events = []
        self.asked = 0

    def progress(self, event: str, fields: Mapping[str, object]) -> None:
        self.events.append((event, dict(fields)))

    def should_stop(self) -> bool:
        self.asked += 1
        return self.heard(self.event) >= self.count

    def heard(self, event: str) -> int:
        return sum(1 for e, _ in self.events if e == event)

    def stops(self) -> list[tuple[object, object]]:
        return [(f["after"], f["reason"]) for e, f in self.events if e == "early_stop"]


def _solve(
    p: Problem, stop: _StopAfter, params: EngineParams, warm: Solution | None = None
) -> Outcome:
    return solve(
        p, params=params, progress=stop.progress, should_stop=stop.should_stop, warm_start=warm
    )


def test_a_stop_before_any_stage_returns_the_start(city: Problem) -> None:
    """should_stop saying True at once skips every stage: the start is returned, checked,
    with an early_stop event and a note naming the caller's request."""
    stop = _StopAfter("lns_step", 0)  # heard 0 times already: stop at once
    o = _solve(city, stop, EngineParams(time_limit_s=1.0))
    assert o.solution is not None and check(city, o.solution) == []
    assert stop.stops() == [("start", "should_stop")]
    assert stop.heard("baselines_done") == 0 and stop.heard("lp_done") == 0
    assert any("should_stop" in note for note in o.notes)


def test_lns_stops_between_steps(city: Problem) -> None:
    """Asked before each LNS step, should_stop ends LNS right after the third step."""
    stop = _StopAfter("lns_step", 3)
    o = _solve(city, stop, EngineParams(time_limit_s=5.0, exact_max_pairs=10))
    assert o.solution is not None and check(city, o.solution) == []
    assert stop.heard("lns_step") == 3
    assert stop.stops() == [("lns", "should_stop")]


def test_exact_cpsat_stops_at_a_solution(city: Problem) -> None:
    """Asked inside CP-SAT at each solution, should_stop ends the exact search at its first."""
    stop = _StopAfter("cpsat_solution", 1)
    o = _solve(city, stop, EngineParams(time_limit_s=5.0, exact_max_pairs=100_000))
    assert o.solution is not None and check(city, o.solution) == []
    assert stop.heard("cpsat_solution") == 1
    assert stop.stops() == [("cpsat", "should_stop")]


def test_the_focused_search_stops_between_pieces(city: Problem) -> None:
    """After a good warm start, should_stop ends the focused search after its first piece and
    the run stops before LNS anywhere."""
    first = solve(city, params=EngineParams(time_limit_s=0.3, exact_max_pairs=10)).solution
    assert first is not None
    p, warm = churn(city, first, 0.05, 3)
    stop = _StopAfter("focus_step", 1)
    o = _solve(p, stop, EngineParams(time_limit_s=5.0, exact_max_pairs=10), warm)
    assert o.solution is not None and check(p, o.solution) == []
    assert stop.heard("focus_step") == 1 and stop.heard("lns_step") == 0
    assert stop.stops() == [("focus", "should_stop")]


def test_without_should_stop_the_same_run_goes_on(city: Problem) -> None:
    """The same run without the hook reaches LNS's end: more than three steps, no stop."""
    events: Events = []
    solve(
        city,
        params=EngineParams(time_limit_s=1.0, exact_max_pairs=10),
        progress=lambda e, f: events.append((e, dict(f))),
    )
    assert sum(1 for e, _ in events if e == "lns_step") > 3
    assert [e for e, _ in events if e == "early_stop"] == []


def test_reassignment_stops_when_asked() -> None:
    """The reassignment search asks should_stop where it reads its deadline: a True at once
    leaves the start as it was, long before the deadline."""
    start = Solution(tuple(ROADEF.job_current))
    result = reassign(
        ROADEF,
        start,
        EngineParams().weights,
        deadline=time.monotonic() + 3600,
        should_stop=lambda: True,
    )
    assert result.moves == 0 and result.solution == start


class _StopFromAsk(_StopAfter):
    """Says stop from its `ask`-th question on."""

    def __init__(self, ask: int) -> None:
        super().__init__("", 0)
        self.ask = ask

    def should_stop(self) -> bool:
        self.asked += 1
        return self.asked >= self.ask


def test_the_regret_stage_stops_inside_its_pricing_and_moves() -> None:
    """Every job required (GAP): should_stop, False when the run starts and True from its
    second question on, is asked inside the regret stage (pricing, repair, descent,
    restarts), which ends with no move and one start; the run ends there."""
    p = gap.to_problem(gen.generate("d", 10, 200, seed=1))
    stop = _StopFromAsk(2)
    o = _solve(p, stop, EngineParams(time_limit_s=30.0))
    done = [f for e, f in stop.events if e == "regret_done"]
    assert len(done) == 1 and done[0]["moves"] == 0 and done[0]["starts"] == 1
    assert stop.stops() == [("regret", "should_stop")]
    assert o.solution is None or check(p, o.solution) == []
