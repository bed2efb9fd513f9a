"""A stop hook for CP-SAT: solve until the objective reaches a value (the engine's gap target).

`StopAt` reports each solution as solver.py's reporter does and stops the search at the first
one whose objective reaches the target; `solve_until` is `CpSatModel.solve` with it.
"""

from __future__ import annotations

import time

from ortools.sat.python import cp_model

from scheduler.placement.cpsat.solver import CpSatModel, CpSatResult, SearchLimits, new_solver
from scheduler.placement.model.params import Progress


class StopAt(cp_model.CpSolverSolutionCallback):
    """Reports each CP-SAT solution (as solver.py's reporter does) and stops the search at the
    first one whose objective reaches `stop_at` (in CP-SAT's terms: without the constant)."""

    def __init__(self, stop_at: int, progress: Progress) -> None:
        super().__init__()
        self._stop_at = stop_at
        self._progress = progress
        self.stopped = False

    def on_solution_callback(self) -> None:
        objective = self.objective_value
        self._progress(
            "cpsat_solution",
            {
                "objective": objective,
                "bound": self.best_objective_bound,
                "wall_ms": round(self.wall_time * 1000, 1),
            },
        )
        # The model's objective never exceeds the evaluator's value of the same solution (its
        # cost auxiliaries are only bounded below), so reaching stop_at here reaches it there,
        # up to the double's rounding (1e-16 relative, far below any useful target).
        if objective >= self._stop_at:
            self.stopped = True
            self.stop_search()


def solve_until(
    model: CpSatModel, limits: SearchLimits, stop_at: int, progress: Progress
) -> tuple[CpSatResult, bool]:
    """CpSatModel.solve with a stop at `stop_at` (an evaluator value); True if it stopped there.

    The same solver as solver.py's solve (new_solver), which has no hook for a stopping
    callback; a stop is deterministic in deterministic mode (one worker, solutions in a fixed
    order)."""
    solver = new_solver(limits)
    callback = StopAt(stop_at - model.objective.constant, progress)
    started = time.perf_counter()
    status = solver.solve(model.model, callback)
    wall_ms = (time.perf_counter() - started) * 1000
    hit_cap = (
        limits.deterministic
        and not callback.stopped
        and status not in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
        and solver.deterministic_time < limits.time_limit_s
    )
    name = solver.status_name(status)
    det = solver.deterministic_time
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpSatResult(None, name, None, None, wall_ms, det, hit_cap), callback.stopped
    result = CpSatResult(
        solution=model.decode(solver),
        status=name,
        objective=model.objective.value(solver),
        bound=model.objective.bound(solver),
        wall_ms=wall_ms,
        deterministic_time=det,
        hit_wall_cap=hit_cap,
    )
    return result, callback.stopped
