"""The CP-SAT model of the placement problem: build, warm-start, solve, decode.

Variables: x[j,n] in 0..ub (replicas of job j on node n, ub = how many fit in n's free capacity)
and y[j,g] (job j runs in group g). Constraints: per job and group sum_n x[j,n] = replicas_j *
y[j,g]; per job at most one y; per node and resource sum_j demand*x <= free. The objective puts
each job's whole value on its y, since a gang's cost depends only on the group it lands in.

Only (job, group) pairs whose nodes could hold the whole gang in the free capacity get variables,
so jobs that cannot be placed this cycle cost nothing to the search.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.placement.capacity import gang_room, room_by_group
from scheduler.placement.objective import Weights
from scheduler.placement.params import Progress, SolveParams
from scheduler.placement.problem import Problem
from scheduler.placement.result import Assignment

# A wall-clock cap on deterministic runs so a loaded machine cannot stretch a cycle without end;
# only reaching it can make a deterministic run differ from its twin. One deterministic unit
# took about 2 s of wall time on the shared 2-core development machine under load.
DETERMINISTIC_WALL_FACTOR = 5.0


@dataclass(frozen=True)
class CpSatOutcome:
    assignment: Assignment | None  # None when CP-SAT found no solution
    status_name: str
    bound: int | None  # CP-SAT's proven upper bound on the objective, if it found a solution
    wall_ms: float
    # A deterministic run stopped by the wall-clock safety cap: its answer may not repeat.
    hit_wall_cap: bool = False


class PlacementModel:
    """One CP-SAT model for one problem; add a hint, then solve once."""

    def __init__(self, p: Problem, w: Weights) -> None:
        self.p = p
        self.w = w
        self.model = cp_model.CpModel()
        # candidates[j][g] = [(node, max replicas of j on node)], only groups that hold the gang.
        self.candidates = self._candidates()
        # The model objective can never exceed placing every job at no cost.
        self.max_objective = w.big * sum(w.work[j] for j in self.candidates)
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.y: dict[tuple[int, int], cp_model.IntVar] = {}
        self.ub: dict[tuple[int, int], int] = {}
        self._add_variables()
        self._add_gang_constraints()
        self._add_capacity_constraints()
        self._set_objective()

    @property
    def empty(self) -> bool:
        """True when no job can be placed at all, so there is nothing to search."""
        return not self.y

    def _candidates(self) -> dict[int, dict[int, list[tuple[int, int]]]]:
        p = self.p
        out: dict[int, dict[int, list[tuple[int, int]]]] = {}
        for j in range(p.num_jobs):
            replicas = p.job_replicas[j]
            for g, room in room_by_group(p, j, p.node_free).items():
                if gang_room(room, replicas) == replicas:
                    out.setdefault(j, {})[g] = room
        return out

    def _add_variables(self) -> None:
        for j, groups in self.candidates.items():
            for g, room in groups.items():
                self.y[j, g] = self.model.new_bool_var(f"y_{j}_{g}")
                for n, ub in room:
                    self.x[j, n] = self.model.new_int_var(0, ub, f"x_{j}_{n}")
                    self.ub[j, n] = ub

    def _add_gang_constraints(self) -> None:
        for j, groups in self.candidates.items():
            replicas = self.p.job_replicas[j]
            for g, room in groups.items():
                # All replicas in this group, or none of them here.
                self.model.add(sum(self.x[j, n] for n, _ in room) == replicas * self.y[j, g])
            self.model.add_at_most_one(self.y[j, g] for g in groups)

    def _add_capacity_constraints(self) -> None:
        p = self.p
        on_node: dict[int, list[int]] = {}
        for j, n in self.x:
            on_node.setdefault(n, []).append(j)
        for n, jobs in on_node.items():
            for r in range(p.num_resources):
                users = [j for j in jobs if p.job_demand[j][r]]
                demand = [p.job_demand[j][r] for j in users]
                # A row that cannot bind even with every job at its maximum only slows the search.
                most = sum(d * self.ub[j, n] for d, j in zip(demand, users, strict=True))
                if most <= p.node_free[n][r]:
                    continue
                load = cp_model.LinearExpr.weighted_sum([self.x[j, n] for j in users], demand)
                self.model.add(load <= p.node_free[n][r])

    def _set_objective(self) -> None:
        # objective.py keeps every value below 2^53, so CP-SAT optimises the exact objective.
        variables = list(self.y.values())
        coefficients = [self.w.job_value(self.p, j, g) for j, g in self.y]
        self.model.maximize(cp_model.LinearExpr.weighted_sum(variables, coefficients))

    def add_hint(self, assignment: Assignment) -> None:
        """Warm start from a feasible assignment (normally the greedy one)."""
        counts: dict[tuple[int, int], int] = {}
        groups: set[tuple[int, int]] = set()
        for j, nodes in enumerate(assignment):
            for n in nodes or ():
                counts[j, n] = counts.get((j, n), 0) + 1
                groups.add((j, self.p.node_group[n]))
        for key, x in self.x.items():
            self.model.add_hint(x, counts.get(key, 0))
        for key, y in self.y.items():
            self.model.add_hint(y, key in groups)

    def solve(self, params: SolveParams, progress: Progress | None = None) -> CpSatOutcome:
        solver = cp_model.CpSolver()
        _configure(solver, params)
        started = time.perf_counter()
        if progress is not None:
            status = solver.solve(self.model, _ProgressCallback(progress))
        else:
            status = solver.solve(self.model)
        wall_ms = (time.perf_counter() - started) * 1000
        name = solver.status_name(status)
        hit_wall_cap = (
            params.deterministic
            and status not in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
            and solver.deterministic_time < params.time_limit_s
        )
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return CpSatOutcome(None, name, None, wall_ms, hit_wall_cap)
        return CpSatOutcome(
            assignment=self._decode(solver),
            status_name=name,
            bound=self._bound(solver.best_objective_bound),
            wall_ms=wall_ms,
            hit_wall_cap=hit_wall_cap,
        )

    def _bound(self, model_bound: float) -> int:
        """CP-SAT's bound as an int; rounding the double up keeps it an upper bound."""
        if not math.isfinite(model_bound):
            return self.max_objective
        return min(self.max_objective, math.ceil(model_bound))

    def _decode(self, solver: cp_model.CpSolver) -> Assignment:
        out: list[tuple[int, ...] | None] = [None] * self.p.num_jobs
        for (j, g), y in self.y.items():
            if solver.boolean_value(y):
                nodes: list[int] = []
                for n, _ in self.candidates[j][g]:
                    nodes.extend([n] * solver.value(self.x[j, n]))
                out[j] = tuple(sorted(nodes))
        return tuple(out)


def _configure(solver: cp_model.CpSolver, params: SolveParams) -> None:
    sp = solver.parameters
    sp.random_seed = params.seed
    if params.deterministic:
        # Single-threaded CP-SAT is deterministic for a given seed and deterministic time. The
        # multi-worker alternative (interleave_search) was measured here at 2-5x its deterministic
        # budget in wall time, too unpredictable for a scheduling cycle.
        sp.num_workers = 1
        sp.max_deterministic_time = params.time_limit_s
        sp.max_time_in_seconds = params.time_limit_s * DETERMINISTIC_WALL_FACTOR
    else:
        sp.num_workers = params.workers
        sp.max_time_in_seconds = params.time_limit_s


class _ProgressCallback(cp_model.CpSolverSolutionCallback):
    """Reports each improving CP-SAT solution through the progress callback."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self._progress = progress

    def on_solution_callback(self) -> None:
        self._progress(
            "cpsat_solution",
            {
                "objective": self.objective_value,
                "bound": self.best_objective_bound,
                "wall_ms": round(self.wall_time * 1000, 1),
            },
        )
