"""solve(): greedy warm start, CP-SAT search, independent check, and the better answer wins."""

from __future__ import annotations

import time
from collections.abc import Mapping

from scheduler.placement.bounds import simple_bound
from scheduler.placement.checker import check
from scheduler.placement.cpsat_model import DETERMINISTIC_WALL_FACTOR, PlacementModel
from scheduler.placement.explain import explain
from scheduler.placement.greedy import fill, greedy
from scheduler.placement.objective import evaluate, weights
from scheduler.placement.params import Progress, SolveParams
from scheduler.placement.problem import Problem
from scheduler.placement.result import Assignment, Result, Status

_MAX_NOTED_VIOLATIONS = 3


def solve(
    problem: Problem, params: SolveParams | None = None, progress: Progress | None = None
) -> Result:
    """Places as much priority-weighted work as possible, then as cheaply as possible.

    The greedy answer is computed first and is both CP-SAT's hint and the fallback; whichever of
    the two scores higher by the independent evaluator is returned (CP-SAT on a tie), and only
    after the independent checker accepts it. `bound` is the smaller of a search-free bound and
    CP-SAT's proven bound, so `objective == bound` means optimal whoever found it.
    """
    params = params or SolveParams()
    started = time.perf_counter()

    def emit(event: str, fields: Mapping[str, object]) -> None:
        if progress is not None:
            progress(event, fields)

    if problem.num_jobs == 0:
        elapsed = _ms_since(started)
        return Result(Status.EMPTY, (), 0, 0, 0, (), build_ms=elapsed, solve_ms=0.0)

    notes: list[str] = []
    w = weights(problem)
    empty: Assignment = (None,) * problem.num_jobs
    base = greedy(problem)
    rejected = check(problem, base)
    if rejected:
        # Cannot happen unless the greedy has a bug; never hand an infeasible plan onwards.
        notes.append(_rejection_note("greedy", rejected))
        emit("checker_rejected", {"source": "greedy", "violations": len(rejected)})
        base = empty
    greedy_objective = evaluate(problem, base)
    bound = simple_bound(problem, w)
    emit(
        "greedy_done",
        {
            "objective": greedy_objective,
            "bound": bound,
            "placed": sum(1 for n in base if n is not None),
            "ms": round(_ms_since(started), 1),
        },
    )

    improved: Assignment | None = None
    build_ms = _ms_since(started)
    search_started = time.perf_counter()
    # When greedy already reaches the search-free bound it is optimal: skip the model entirely.
    if params.use_cpsat and greedy_objective < bound:
        model = PlacementModel(problem, w)
        if not model.empty:
            model.add_hint(base)
            build_ms = _ms_since(started)
            search_started = time.perf_counter()
            emit(
                "cpsat_start",
                {"variables": len(model.x) + len(model.y), "cost_unit": w.cost_unit},
            )
            outcome = model.solve(params, progress)
            emit(
                "cpsat_done",
                {
                    "status": outcome.status_name,
                    "bound": outcome.bound,
                    "wall_ms": round(outcome.wall_ms, 1),
                },
            )
            if outcome.hit_wall_cap:
                notes.append(
                    "deterministic search stopped at its wall-clock cap "
                    f"({DETERMINISTIC_WALL_FACTOR:g}x time_limit_s); the answer may not repeat"
                )
            if outcome.bound is not None:
                bound = min(bound, outcome.bound)
            if outcome.assignment is not None:
                rejected = check(problem, outcome.assignment)
                if rejected:
                    notes.append(_rejection_note("cp-sat", rejected))
                    emit("checker_rejected", {"source": "cp-sat", "violations": len(rejected)})
                else:
                    # A time-limited search may leave out jobs that still fit; adding them only
                    # raises the objective.
                    improved = fill(problem, outcome.assignment)

    chosen, from_search = base, False
    if improved is not None:
        rejected = check(problem, improved)
        if rejected:
            notes.append(_rejection_note("cp-sat after fill", rejected))
        elif evaluate(problem, improved) >= greedy_objective:
            chosen, from_search = improved, True
    objective = evaluate(problem, chosen)
    if bound < objective:
        # Would mean a wrong bound somewhere; report it rather than a gap below zero.
        notes.append(f"bound {bound} was below the objective {objective}; raised to match")
        bound = objective
    if objective == bound:
        status = Status.OPTIMAL
    else:
        status = Status.FEASIBLE if from_search else Status.GREEDY
    return Result(
        status=status,
        assignment=chosen,
        objective=objective,
        bound=bound,
        greedy_objective=greedy_objective,
        unplaced=explain(problem, chosen),
        build_ms=build_ms,
        solve_ms=_ms_since(search_started),
        notes=tuple(notes),
    )


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _rejection_note(source: str, violations: list[str]) -> str:
    shown = "; ".join(violations[:_MAX_NOTED_VIOLATIONS])
    more = len(violations) - _MAX_NOTED_VIOLATIONS
    suffix = f" (+{more} more)" if more > 0 else ""
    return f"{source} answer failed the checker and was discarded: {shown}{suffix}"
