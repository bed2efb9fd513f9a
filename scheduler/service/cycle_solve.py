"""The cycle's call of the engine, with one fallback: a problem that makes some jobs required
(a job placed by preempting must take the room its victims freed, problem_builder) is solved
again with every job optional when no answer keeps that promise. The builder checks only that
the room is free by capacity; another rule it does not model (a parent's quota filled by
sibling divisions, GPU device shares, spread) can still forbid the placement, and then the
engine has no feasible answer at all and the whole cycle would place nothing, cycle after
cycle. One job's promise must not stall the pool: it waits, everything else is placed."""

from __future__ import annotations

from dataclasses import replace

import structlog

from scheduler.placement import (
    EngineParams,
    Outcome,
    Problem,
    Progress,
    ShouldStop,
    Solution,
    solve,
)

log = structlog.get_logger(__name__)


def solve_cycle(
    problem: Problem,
    *,
    params: EngineParams,
    warm_start: Solution | None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> Outcome:
    """The engine's outcome for `problem`; when it has no solution and jobs were required, the
    outcome of the same problem with no job required (logged as cycle_required_dropped)."""
    outcome = solve(
        problem, params=params, warm_start=warm_start, progress=progress, should_stop=should_stop
    )
    if outcome.solution is not None or not any(problem.job_required):
        return outcome
    log.warning(
        "cycle_required_dropped",
        status=str(outcome.status),
        required=sum(problem.job_required),
        notes=list(outcome.notes)[:5],
    )
    relaxed = replace(problem, job_required=())
    return solve(
        relaxed, params=params, warm_start=warm_start, progress=progress, should_stop=should_stop
    )
