"""The exact CP-SAT model of the v2 problem: build, hint, solve, decode.

One `CpSatModel` decides one `Scope`: every job and node for the exact model, a neighbourhood
for large-neighbourhood search (everything else fixed at the incumbent). Variables are in
cpsat_vars, constraint families in cpsat_constraints, objective terms in cpsat_objective. The
objective is the evaluator's, in the same integers: in the exact model the solver's objective
value of an optimal solution equals evaluate(...).value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.placement.cpsat.constraints import add_all
from scheduler.placement.cpsat.floors import hold_floors_node_by_node
from scheduler.placement.cpsat.objective import Objective, TermWeights
from scheduler.placement.cpsat.scope import Fixed, Incumbent, Scope
from scheduler.placement.cpsat.variables import IntVar, Parts, Value, build_parts
from scheduler.placement.index.facts import WHOLE, Facts
from scheduler.placement.model.params import Progress, ShouldStop
from scheduler.placement.model.problem import Solution

_STATUS_WITH_SOLUTION = (cp_model.OPTIMAL, cp_model.FEASIBLE)


@dataclass(frozen=True)
class SearchLimits:
    """How one CP-SAT solve searches (a slice of the engine's parameters)."""

    time_limit_s: float  # deterministic units if deterministic, else wall seconds
    deterministic: bool = True
    seed: int = 0
    workers: int = 1
    wall_cap_s: float | None = None  # deterministic mode's wall-clock safety cap
    # Presolve's dual reductions may drop the hinted solution ("presolve broke a feasible
    # hint"), after which CP-SAT can return something worse than its own hint; measured on
    # LNS pieces of the synthetic S city, keeping every feasible solution lost none and
    # reached optimality sooner. Worth it whenever the hint is the incumbent to beat.
    keep_hint: bool = True


@dataclass(frozen=True)
class CpSatResult:
    """One CP-SAT run: the decoded full solution (None if none found) and what CP-SAT proved.

    `objective` and `bound` are in the model's terms: for the exact model the evaluator's value
    and an upper bound on every feasible solution's value; for a neighbourhood the same up to
    a constant (the fixed part), which is why LNS judges results with the evaluator.
    """

    solution: Solution | None
    status: str
    objective: int | None
    bound: int | None
    wall_ms: float
    deterministic_time: float
    hit_wall_cap: bool
    stopped: bool = False  # stopped at `stop_at` (CpSatModel.solve), not by a limit


class CpSatModel:
    """The model of one scope. Build once, optionally hint, solve once."""

    def __init__(
        self,
        facts: Facts,
        weights: TermWeights,
        job_work: tuple[int, ...],
        scope: Scope | None = None,
        incumbent: Incumbent | None = None,
    ) -> None:
        self.facts = facts
        self.scope = scope or Scope.everything(facts.p)
        self.partial = len(self.scope.jobs) < facts.p.num_jobs
        if self.partial and incumbent is None:
            raise ValueError("a neighbourhood model needs the incumbent it leaves in place")
        fixed = incumbent.fixed(self.scope) if self.partial and incumbent else Fixed()
        on_node = incumbent.on_node if self.partial and incumbent else {}
        self.model = cp_model.CpModel()
        self.parts: Parts = build_parts(self.model, facts, self.scope, fixed, on_node)
        self.parts.job_work = job_work
        self.parts.fixed_service_moves = fixed.service_moves
        add_all(self.parts)
        self.objective = Objective(self.parts, weights)
        # The model's objective at the hint: a result must beat it to be worth evaluating.
        self.hint_value: int | None = None
        self.hint_work: int | None = None  # the hint's work term (polish_migration keeps it)

    @property
    def pairs(self) -> int:
        """(job class, node) placement pairs: the measure of model size."""
        return len(self.parts.x)

    # -- warm start ------------------------------------------------------------------------------

    def hint(self, solution: Solution) -> None:
        """Hints every variable from a (feasible) solution: placements, gang groups and device
        shares from the solution, auxiliaries computed from those (a complete hint is taken
        as CP-SAT's first solution; a partial one may be lost)."""
        parts = self.parts
        p = self.facts.p
        solution = self._relabelled(solution)
        values: dict[int, tuple[IntVar, int]] = {}

        def put(v: Value, value: int) -> None:
            if not isinstance(v, int):
                values[v.index] = (v, value)

        for u, cls in enumerate(parts.classes):
            counts: dict[int, int] = {}
            groups: dict[int, int] = {}
            placed = 0
            for j in cls.jobs:
                nodes = solution.assignment[j]
                if nodes is None:
                    continue
                placed += 1
                groups[p.node_group[nodes[0]]] = groups.get(p.node_group[nodes[0]], 0) + 1
                for n in nodes:
                    counts[n] = counts.get(n, 0) + 1
            put(parts.placed[u], placed)
            for n in parts.nodes_of[u]:
                put(parts.x[u, n], counts.get(n, 0))
            for g in {p.node_group[n] for n in parts.nodes_of[u]}:
                y = parts.gangs.get((u, g))
                if y is not None:
                    put(y, groups.get(g, 0))
        self._hint_devices(solution, put)

        def read(v: Value) -> int:
            return v if isinstance(v, int) else values.get(v.index, (v, 0))[1]

        for var, rule in parts.derived:
            put(var, rule(read))
        for var, value in values.values():
            self.model.add_hint(var, value)
        self.hint_value = self.objective.value_at(read)
        self.hint_work = self.objective.terms["work"].eval(read)

    def _relabelled(self, solution: Solution) -> Solution:
        """`solution` with interchangeable nodes (Parts.symmetric) relabelled so that the used
        ones come first, as the model requires; same value, and the hint stays feasible."""
        parts = self.parts
        if not parts.symmetric:
            return solution
        used = {n for nodes in solution.assignment if nodes for n in nodes}
        relabel: dict[int, int] = {}
        for members in parts.symmetric:
            taken = [n for n in members if n in used]
            relabel.update((n, m) for n, m in zip(taken, members, strict=False) if n != m)
        if not relabel:
            return solution
        assignment = tuple(
            None if nodes is None else tuple(sorted(relabel.get(n, n) for n in nodes))
            for nodes in solution.assignment
        )
        return Solution(assignment, solution.devices)

    def _hint_devices(self, solution: Solution, put: Callable[[Value, int], None]) -> None:
        """Share counts per device. Devices free of fixed load are interchangeable and the
        model keeps them in descending load order, so the hint's devices are sorted so too."""
        parts, facts = self.parts, self.facts
        if not parts.share or not solution.devices:
            return
        count: dict[tuple[int, int, int], int] = {}  # (class, node, device id) -> replicas
        load: dict[tuple[int, int], int] = {}  # (node, device id) -> decided share load
        for u, cls in enumerate(parts.classes):
            for j in cls.jobs:
                nodes, devs = solution.assignment[j], solution.devices[j]
                if nodes is None or devs is None:
                    continue
                for n, ids in zip(nodes, devs, strict=True):
                    q = facts.demand(j, n)[facts.gpu]
                    if facts.gpu_kind(q) == "share" and len(ids) == 1:
                        count[u, n, ids[0]] = count.get((u, n, ids[0]), 0) + 1
                        load[n, ids[0]] = load.get((n, ids[0]), 0) + q
        source: dict[tuple[int, int], int] = {}  # model device -> the solution's device id
        for n in sorted({n for (n, _) in parts.dev_open}):
            slots = sorted(k for (m, k) in parts.dev_open if m == n)
            ordered = sorted(slots, key=lambda k: (-load.get((n, k), 0), k))
            source.update({(n, k): src for k, src in zip(slots, ordered, strict=True)})
        for (u, n, k), var in parts.share.items():
            put(var, count.get((u, n, source.get((n, k), k)), 0))
        for (n, k), var in parts.dev_open.items():
            put(var, int(load.get((n, source[n, k]), 0) > 0))

    def polish_migration(self, load: Sequence[int], balance: Sequence[int]) -> None:
        """Turns the model into the migration polish's (stages/polish.py): each weighted
        resource's load (usage above safety summed over the scope's nodes, unweighted) at most
        load[r], each weighted balance's shortfall at most balance[b] (and both node by node,
        cpsat/floors.py), at least the hint's work placed, and migration alone minimised. The
        result's `objective` stays the evaluator's formula; its `bound` is then no bound on it
        (CP-SAT bounds migration)."""
        assert self.hint_work is not None, "hint the polished answer first"
        terms = self.objective.terms
        for r, row in self.objective.load_rows.items():
            if row.has_vars:
                self.model.add(row.expr() <= load[r])
        for row, most in zip(self.objective.balance_rows, balance, strict=True):
            if row.has_vars:
                self.model.add(row.expr() <= most)
        # The same caps node by node, which CP-SAT propagates (cpsat/floors.py).
        hold_floors_node_by_node(
            self.parts,
            {r: load[r] for r in self.objective.load_rows},
            balance if self.objective.balance_rows else None,
        )
        work = terms["work"]
        if work.has_vars:
            self.model.add(work.expr() >= self.hint_work)
        # Measured on ROADEF a1_5 (benchmarks/README.md, "The migration polish"): with the
        # whole objective the capped model found nothing in 200 s from either of two answers;
        # with migration alone it found the answer with fewer moves.
        self.model.minimize(terms["migration"].expr())

    # -- search ----------------------------------------------------------------------------------

    def solve(
        self,
        limits: SearchLimits,
        progress: Progress | None = None,
        *,
        stop_at: int | None = None,
        should_stop: ShouldStop | None = None,
    ) -> CpSatResult:
        """Solves within `limits`, reporting each solution through `progress`. With `stop_at`
        (an evaluator value: the engine's gap target, or its bound) the search stops at the
        first solution whose objective reaches it, and the result says `stopped`; a stop is
        deterministic in deterministic mode (one worker, solutions in a fixed order). The
        caller's `should_stop` is asked at the same hook, at each solution, and stops it the
        same way."""
        solver = new_solver(limits)
        started = time.perf_counter()
        callback = None
        if stop_at is not None or should_stop is not None or progress is not None:
            target = None if stop_at is None else stop_at - self.objective.constant
            callback = _Reporter(progress if progress is not None else _quiet, target, should_stop)
        status = solver.solve(self.model, callback)
        wall_ms = (time.perf_counter() - started) * 1000
        stopped = callback is not None and callback.stopped
        hit_cap = (
            limits.deterministic
            and not stopped
            and status not in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
            and solver.deterministic_time < limits.time_limit_s
        )
        name = solver.status_name(status)
        if status not in _STATUS_WITH_SOLUTION:
            return CpSatResult(
                None, name, None, None, wall_ms, solver.deterministic_time, hit_cap, stopped
            )
        return CpSatResult(
            solution=self.decode(solver),
            status=name,
            objective=self.objective.value(solver),
            bound=self.objective.bound(solver),
            wall_ms=wall_ms,
            deterministic_time=solver.deterministic_time,
            hit_wall_cap=hit_cap,
            stopped=stopped,
        )

    # -- decoding --------------------------------------------------------------------------------

    def decode(self, solver: cp_model.CpSolver) -> Solution:
        """The full solution: decided jobs from the solver, the rest from the incumbent.

        Device ids follow verify.py's convention: None for a job none of whose replicas needs
        devices, else one tuple per replica (() for a replica that needs none).
        """
        parts, facts = self.parts, self.facts
        p = facts.p
        inc = self.scope.incumbent
        assignment: list[tuple[int, ...] | None] = [None] * p.num_jobs
        devices: list[tuple[tuple[int, ...], ...] | None] = [None] * p.num_jobs
        if self.partial and inc is not None:
            assignment = list(inc.assignment)
            if inc.devices:
                devices = list(inc.devices)
        queues = self._device_queues(solver)
        for u in range(len(parts.classes)):
            for j, nodes in self._class_placement(solver, u):
                assignment[j] = nodes
                ids = None if nodes is None else tuple(queues.pop((u, n)) for n in nodes)
                devices[j] = ids if ids is not None and any(ids) else None
        has_devices = facts.gpu >= 0 and any(facts.devices)
        return Solution(tuple(assignment), tuple(devices) if has_devices else ())

    def _class_placement(
        self, solver: cp_model.CpSolver, u: int
    ) -> list[tuple[int, tuple[int, ...] | None]]:
        """Each member job's nodes: gangs filled group by group, oldest members first."""
        parts = self.parts
        p = self.facts.p
        cls = parts.classes[u]
        replicas = p.job_replicas[cls.rep]
        by_group: dict[int, list[int]] = {}
        for n in parts.nodes_of[u]:
            count = _value(solver, parts.x[u, n])
            by_group.setdefault(p.node_group[n], []).extend([n] * count)
        out: list[tuple[int, tuple[int, ...] | None]] = []
        members = iter(cls.jobs)
        for g in sorted(by_group):
            pool = by_group[g]
            for start in range(0, len(pool), replicas):
                out.append((next(members), tuple(sorted(pool[start : start + replicas]))))
        out.extend((j, None) for j in members)
        return out

    def _device_queues(self, solver: cp_model.CpSolver) -> _DeviceQueues:
        """Device ids per placed replica, node by node: shares on their devices, whole-device
        replicas on the lowest devices neither fixed load nor shares use."""
        parts, facts = self.parts, self.facts
        queues = _DeviceQueues()
        if facts.gpu < 0:
            return queues
        for (u, n, k), s in parts.share.items():
            for _ in range(_value(solver, s)):
                queues.push((u, n), (k,))
        for n in sorted(parts.on_node):
            count = facts.devices[n]
            if count <= 0:
                continue
            busy = {k for k in range(count) if parts.fixed.device_load.get((n, k), 0) > 0}
            busy |= {
                k for (m, k), d in parts.dev_open.items() if m == n and solver.boolean_value(d)
            }
            free = iter(k for k in range(count) if k not in busy)
            for u in parts.on_node[n]:
                q = facts.demand(parts.classes[u].rep, n)[facts.gpu]
                if facts.gpu_kind(q) != "whole":
                    continue
                for _ in range(_value(solver, parts.x[u, n])):
                    queues.push((u, n), tuple(next(free) for _ in range(q // WHOLE)))
        return queues


class _DeviceQueues:
    """Device ids waiting to be handed to replicas; replicas without devices get ()."""

    def __init__(self) -> None:
        self._queues: dict[tuple[int, int], list[tuple[int, ...]]] = {}

    def push(self, key: tuple[int, int], ids: tuple[int, ...]) -> None:
        self._queues.setdefault(key, []).append(ids)

    def pop(self, key: tuple[int, int]) -> tuple[int, ...]:
        queue = self._queues.get(key)
        return queue.pop(0) if queue else ()


def _value(solver: cp_model.CpSolver, v: cp_model.IntVar | int) -> int:
    return v if isinstance(v, int) else int(solver.value(v))


class _Reporter(cp_model.CpSolverSolutionCallback):
    """Reports each improving CP-SAT solution through the progress callback, and stops the
    search at the first one whose objective reaches `stop_at` (in CP-SAT's terms: without the
    objective's constant) when there is one, or at which `should_stop` says True:
    CpSatModel.solve's stop hook."""

    def __init__(
        self,
        progress: Progress,
        stop_at: int | None = None,
        should_stop: ShouldStop | None = None,
    ) -> None:
        super().__init__()
        self._progress = progress
        self._stop_at = stop_at
        self._should_stop = should_stop
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
        reached = self._stop_at is not None and objective >= self._stop_at
        if reached or (self._should_stop is not None and self._should_stop()):
            self.stopped = True
            self.stop_search()


def _quiet(event: str, fields: Mapping[str, object]) -> None:
    """The progress callback of a stopping solve nobody listens to."""


def new_solver(limits: SearchLimits) -> cp_model.CpSolver:
    """A CP-SAT solver with `limits` applied (CpSatModel.solve)."""
    solver = cp_model.CpSolver()
    sp = solver.parameters
    sp.random_seed = limits.seed
    sp.keep_all_feasible_solutions_in_presolve = limits.keep_hint
    if limits.deterministic:
        # One worker on CP-SAT's deterministic clock repeats exactly for a given seed; the
        # wall-clock cap only guards a cycle against a badly loaded machine.
        sp.num_workers = 1
        sp.max_deterministic_time = limits.time_limit_s
        if limits.wall_cap_s is not None:
            sp.max_time_in_seconds = limits.wall_cap_s
    else:
        sp.num_workers = limits.workers
        sp.max_time_in_seconds = limits.time_limit_s
    return solver
