"""SearchLimits as CP-SAT's parameters (cpsat/solver.py's new_solver)."""

from __future__ import annotations

import pytest

from scheduler.placement.cpsat.solver import SearchLimits, new_solver


@pytest.mark.parametrize(
    ("limits", "workers", "interleaved"),
    [
        (SearchLimits(10.0, deterministic=True, workers=4, interleave=True), 1, True),
        (SearchLimits(10.0, deterministic=False, workers=1, interleave=True), 1, True),
        # Two workers already run the portfolio side by side.
        (SearchLimits(10.0, deterministic=False, workers=2, interleave=True), 2, False),
        (SearchLimits(10.0, deterministic=False, workers=1), 1, False),
    ],
)
def test_interleaving_applies_to_one_worker_only(
    limits: SearchLimits, workers: int, interleaved: bool
) -> None:
    sp = new_solver(limits).parameters
    assert sp.num_workers == workers
    assert sp.interleave_search is interleaved


def test_time_limits_land_on_the_clock_asked_for() -> None:
    det = new_solver(SearchLimits(3.0, deterministic=True, wall_cap_s=9.0)).parameters
    assert (det.max_deterministic_time, det.max_time_in_seconds) == (3.0, 9.0)
    wall = new_solver(SearchLimits(3.0, deterministic=False, seed=7, keep_hint=False)).parameters
    assert wall.max_time_in_seconds == 3.0
    assert (wall.random_seed, wall.keep_all_feasible_solutions_in_presolve) == (7, False)
