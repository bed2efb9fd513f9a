"""SearchLimits as CP-SAT's parameters (cpsat/solver.py's new_solver)."""

from __future__ import annotations

from scheduler.placement.cpsat.solver import SearchLimits, new_solver


def test_time_limits_land_on_the_clock_asked_for() -> None:
    det = new_solver(SearchLimits(3.0, deterministic=True, workers=4, wall_cap_s=9.0)).parameters
    assert (det.max_deterministic_time, det.max_time_in_seconds, det.num_workers) == (3.0, 9.0, 1)
    wall = new_solver(
        SearchLimits(3.0, deterministic=False, seed=7, workers=2, keep_hint=False)
    ).parameters
    assert (wall.max_time_in_seconds, wall.num_workers) == (3.0, 2)
    assert (wall.random_seed, wall.keep_all_feasible_solutions_in_presolve) == (7, False)
