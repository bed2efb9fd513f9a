"""The wall-clock limit is a limit: once a stage has tried to place the queue and the time is
spent, no further stage starts (the LP bound, the searches); deterministic mode never reads
the clock for that."""

from __future__ import annotations

import pytest

from benchmarks.synthetic import Spec, churn, generate
from scheduler.placement import engine
from scheduler.placement.judges.verify import check
from scheduler.placement.model import Problem
from scheduler.placement.model.params import EngineParams
from tests.placement.engine.helpers import Events, solve_with_events

# Far below what the first stage takes on the city below (its greedy rules alone take tens of
# milliseconds on any machine), so the limit is spent when it ends.
TINY_S = 0.001


@pytest.fixture(scope="module")
def city() -> Problem:
    return generate(Spec("T", jobs=1500, nodes=150, clusters=4, regions=2, departments=4), 2)


def _names(events: Events) -> set[str]:
    return {event for event, _ in events}


def test_no_stage_starts_after_the_first_once_the_time_is_spent(city: Problem) -> None:
    outcome, events = solve_with_events(
        city, EngineParams(time_limit_s=TINY_S, deterministic=False)
    )
    stops = [fields for event, fields in events if event == "early_stop"]
    assert [(s["after"], s["reason"]) for s in stops] == [("baselines", "time_limit")]
    assert not _names(events) & {"lp_done", "lp_round_done", "lns_done", "cpsat_done"}
    # The answer is the best baseline, checked: placing work, and feasible.
    assert outcome.solution is not None and check(city, outcome.solution) == []
    assert any(a is not None for a in outcome.solution.assignment)


def test_with_a_warm_start_the_queue_is_still_placed_first(city: Problem) -> None:
    first = engine.solve(city, params=EngineParams(time_limit_s=1.0)).solution
    assert first is not None
    nxt, warm = churn(city, first, 0.05, 2)
    outcome, events = solve_with_events(
        nxt, EngineParams(time_limit_s=TINY_S, deterministic=False), warm
    )
    stops = [(f["after"], f["reason"]) for e, f in events if e == "early_stop"]
    assert stops == [("queue", "time_limit")]
    assert outcome.solution is not None and check(nxt, outcome.solution) == []
    # The queue stage placed work the warm start left out (the arrivals, the queue).
    placed = sum(a is not None for a in outcome.solution.assignment)
    assert placed > sum(a is not None for a in warm.assignment)


def test_deterministic_mode_runs_its_stages_whatever_the_clock(city: Problem) -> None:
    _, events = solve_with_events(city, EngineParams(time_limit_s=TINY_S, deterministic=True))
    assert all(f["reason"] != "time_limit" for e, f in events if e == "early_stop")
    assert "lp_done" in _names(events)
