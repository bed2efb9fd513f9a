"""The cycle's engine call: a required job (placed by preempting) that cannot be placed after
all does not stall the cycle; the problem is solved again with every job optional."""

from __future__ import annotations

from scheduler.placement import EngineParams, Problem, solve
from scheduler.service.cycle_solve import solve_cycle
from tests.placement.build import jobs

PARAMS = EngineParams(time_limit_s=1.0, workers=1)


def _problem(required: tuple[bool, ...]) -> Problem:
    """BASE's two nodes of 4 cpu; job 0 needs 8 (never fits), job 1 needs 2."""
    return jobs(2, job_demand=((8, 2), (2, 2)), job_required=required)


def test_an_unplaceable_required_job_waits_and_the_rest_is_placed() -> None:
    """The engine alone has no answer when job 0 is required; the cycle's call places job 1
    and leaves job 0 unplaced."""
    strict = _problem((True, False))
    assert solve(strict, params=PARAMS).solution is None
    outcome = solve_cycle(strict, params=PARAMS, warm_start=None)
    assert outcome.solution is not None
    assert outcome.solution.assignment[0] is None and outcome.solution.assignment[1] is not None


def test_without_required_jobs_the_outcome_is_the_engines_own() -> None:
    """No job required: the same answer as the engine's (deterministic mode), job 1 placed."""
    plain = solve(_problem(()), params=PARAMS)
    outcome = solve_cycle(_problem(()), params=PARAMS, warm_start=None)
    assert outcome.solution == plain.solution
    assert outcome.solution is not None and outcome.solution.assignment[1] is not None
