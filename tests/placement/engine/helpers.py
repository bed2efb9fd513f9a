"""What the engine tests share: a solve that records every progress event."""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.placement import engine
from scheduler.placement.model import Problem, Solution
from scheduler.placement.model.outcome import Outcome
from scheduler.placement.model.params import EngineParams

Events = list[tuple[str, dict[str, object]]]


def solve_with_events(
    p: Problem, params: EngineParams, warm: Solution | None = None
) -> tuple[Outcome, Events]:
    events: Events = []

    def progress(event: str, fields: Mapping[str, object]) -> None:
        events.append((event, dict(fields)))

    return engine.solve(p, params=params, progress=progress, warm_start=warm), events
