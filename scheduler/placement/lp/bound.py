"""LP relaxation over (job class x node class) pairs: an upper bound on the objective, and the
fractional plan the rounding follows.

Data (aggregate.py): job class k = n_k jobs alike in everything the LP reads, R_k replicas,
work w_k per job; node class c = m_c interchangeable nodes of group g(c), free vector F_c per
node once fixed running work is taken off. (k, c) is a pair only if one replica of k fits an
empty-of-others node of c; u_kc replicas at most fit one such node; d_kcr = k's demand on c.
Groups g are kept for k only if their pairs could hold a whole gang (sum m_c u_kc >= R_k).

Variables
    x_kc in [0, min(n_k R_k, m_c u_kc)]   replicas of k on class c
    z_kg in [0, n_k]                       jobs of k in group g   (gangs only, R_k > 1)
    y_c  in [0, m_c]                       open nodes of c        (only if opening costs energy)
  X_kc below is x_kc, or R_k z_kg when c is the only class of g that a gang k may use.
  Jobs(k, g) is sum_{c in g} x_kc for single replicas, z_kg for gangs.

Rows
    sum_g Jobs(k, g) <= n_k                    (= n_k if the class is required)
    sum_{c in g} x_kc = R_k z_kg               (a gang stays in one group)
    sum_k d_kcr X_kc <= m_c F_cr               (capacity of the class; <= F_cr y_c with energy)
    sum_{k: 2 d_kcr > F_cr} X_kc <= m_c        (two such replicas never share a node; y_c)
    sum_k f(d_kcr / F_cr) X_kc <= y_c          (with energy only: dual-feasible functions f, the
                                                vector-bin-packing bin count)
    sum_k dev_kc X_kc <= m_c D_c               (device classes: whole devices need free devices,
                                                shares above half a device of their own)
    sum_{k of members(q)} sum_{c in groups(q)} d_kcr X_kc <= nominal + borrow
                                                - fixed running usage   (quota q, resource r)

Every integral placement satisfies these (sum each node's rows over its class), so the LP
optimum is at least the integer optimum. Services, transient usage, the rules that justify an
eviction and their cap (max_evictions), and the load, balance and fragmentation costs only
restrict or cost, so leaving them out keeps the bound valid (and loose for ROADEF, whose cost
is mostly load and balance). Running jobs that can move or be evicted are classes of one: a
replica off its current nodes costs at least the move cost; evicting costs the preemption cost.

Objective (weights W, evaluator.py's definition)
    work(x)  = sum w_k Jobs(k, g)
    cost(x)  = W.money * money_kc X_kc + W.migration * move_kc X_kc + W.energy * open_c y_c
               + W.preemption * pc_k (n_k - sum_g Jobs(k, g))            (+ constants)
  Explicit work weight: one LP, max W.work * work - cost. Default (work = None: one unit of
  work outweighs every cost): lexicographic, so LP1 max work gives an integer bound Wb, and
  LP2 min cost s.t. work >= Wb - 1/2 gives C2 (LP2 only when it is cheap or work cannot vary,
  see `costs`). Any solution has work Wb (so cost >= C2) or at most Wb - 1, hence
    value <= max(BIG * Wb - C2 // unit, BIG * (Wb - 1) - Cmin // unit).

Exactness. GLOP works in floating point with tolerances, so its objective is not a proof. The
bound is computed from its duals by weak duality instead: for ANY row multipliers y (signs
fixed to match the finite row bounds), c'x <= y'b + sum_j max(r_j l_j, r_j u_j) with
r = c - A'y, for every x within its bounds. Evaluated with an a-priori float error margin, that
holds exactly, however inaccurate the duals.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from ortools.linear_solver import linear_solver_pb2, pywraplp

from scheduler.placement.index.aggregate import (
    Classes,
    View,
    classify,
)
from scheduler.placement.judges.scale import objective_scale
from scheduler.placement.lp.rows import Built, Pair, build_lp
from scheduler.placement.model.params import ShouldStop
from scheduler.placement.model.problem import ObjectiveWeights, Problem

Progress = Callable[[str, Mapping[str, object]], None]

_INF = math.inf
# The cost LP restarts from the work LP's basis but still took about as long again on the
# synthetic M city (52,000 variables: 0.6 s work LP, 2.8 s cost LP on the 2-core machine).
COST_STAGE_MAX_VARIABLES = 20_000


@dataclass(frozen=True)
class LpBound:
    """The relaxation's answer.

    `value` is an upper bound on `evaluate(p, s, weights).value` for every feasible s (None if
    the relaxation is infeasible, which proves the problem is: some required job cannot be
    placed). `replicas[i]` is the LP's replicas for `pairs[i]`; `jobs[(k, g)]` the LP's jobs of
    class k in group g; `prices[c][r]` the dual price of one unit of resource r on class c
    (how scarce the work-maximising LP found it). `status` is "optimal", "infeasible",
    "time_limit" (value then comes from the last duals and is valid but loose) or "trivial"
    (nothing to decide).
    """

    value: int | None
    work: int | None  # upper bound on the work term alone
    status: str
    view: View
    classes: Classes
    pairs: tuple[Pair, ...]
    replicas: tuple[float, ...]
    jobs: Mapping[tuple[int, int], float]
    prices: tuple[tuple[float, ...], ...]
    variables: int
    constraints: int
    build_s: float
    solve_s: float
    # Lexicographic weights: whether `value`'s cost part is a real bound on the cost of any
    # solution with `work` (the cost LP ran, or nothing decided costs anything), not merely
    # the least cost within the variables' bounds. The engine's gap target reads it.
    cost_bounded: bool = False


# How often a solve's watcher asks should_stop: a stop is honoured within this, not at the
# end of an LP that can take tens of seconds at B_1 size.
_STOP_POLL_S = 0.02


@contextmanager
def _interruptible(solver: pywraplp.Solver, should_stop: ShouldStop | None) -> Iterator[None]:
    """While the block runs, a watcher thread interrupts `solver` once `should_stop` says
    True (GLOP then returns what it has, as at its time limit)."""
    if should_stop is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(_STOP_POLL_S):
            if should_stop():
                solver.InterruptSolve()
                return

    watcher = threading.Thread(target=watch, name="lp-stop", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def lp_bound(
    p: Problem,
    weights: ObjectiveWeights,
    *,
    time_limit_s: float | None = None,
    costs: bool | None = None,
    progress: Progress | None = None,
    view: View | None = None,
    classes: Classes | None = None,
    should_stop: ShouldStop | None = None,
) -> LpBound:
    """Solves the relaxation (see the module docstring) and returns its bound and plan.

    `should_stop` (the engine's, model/params.py) is asked while the LP is built (before each
    class and quota row: build_lp) and polled while GLOP solves; when it says True the build or
    the solve ends and the bound is what a time limit would have given (status "time_limit"),
    and the cost LP is not started.

    `costs` (lexicographic weights only) says whether to solve the second, cost-minimising LP.
    Without it the bound is BIG * Wb minus the least cost the decided part could have within
    its variables' bounds (keeping a preemptible job saves its eviction: a negative cost), still
    valid, looser by at most the cost of the work, below one unit of work.
    None (default): only when it is cheap (at most COST_STAGE_MAX_VARIABLES variables) or when
    work cannot vary (every job required: vector bin packing, GAP), where cost is all there is.
    """
    start = time.perf_counter()
    view = view or View(p)
    classes = classes or classify(view)
    built = build_lp(view, classes, weights, should_stop)
    lp = built.lp
    build_s = time.perf_counter() - start
    if built.stopped:
        return _unsolved(p, weights, view, classes, built, build_s, 0.0)
    if progress is not None:
        progress(
            "lp_built",
            {"variables": len(lp.ub), "constraints": len(lp.row_lo), "build_s": build_s},
        )
    empty = {k: 0.0 for k in built.group_vars}
    if built.infeasible or classes.base.overfull:
        # A required job fits nowhere, or work that cannot move overfills a node.
        return _answer(view, classes, built, None, None, "infeasible", [], {}, build_s, 0.0)
    if not lp.ub:
        value, work = _combine(p, weights, built, 0.0, 0.0)
        return _answer(view, classes, built, value, work, "trivial", [], empty, build_s, 0.0)
    lexicographic = weights.work is None
    if lexicographic:
        first = lp.work
    else:
        w = float(weights.work or 0)
        first = [w * a - b for a, b in zip(lp.work, lp.cost, strict=True)]
    solver = pywraplp.Solver.CreateSolver("GLOP")
    assert solver is not None
    solver.LoadModelFromProto(lp.proto(first, maximize=True))
    if time_limit_s is not None:
        solver.SetTimeLimit(max(1, int(time_limit_s * 1000)))
    with _interruptible(solver, should_stop):
        status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        solve_s = time.perf_counter() - start - build_s
        if status == pywraplp.Solver.INFEASIBLE:
            return _answer(view, classes, built, None, None, "infeasible", [], {}, build_s, solve_s)
        return _unsolved(p, weights, view, classes, built, build_s, solve_s)
    values, duals1 = _read(solver)
    upper1 = lp.safe_max(first, duals1)
    cost_bounded = lexicographic and not any(lp.cost)
    # Without the cost stage, the least the decided part can cost within the variables' bounds
    # (negative where keeping a preemptible job saves its eviction), not 0.
    lower2 = -lp.safe_max([-c for c in lp.cost], [])
    if costs is None:
        costs = len(lp.ub) <= COST_STAGE_MAX_VARIABLES or all(jc.required for jc in classes.jobs)
    stopped = should_stop is not None and should_stop()
    if lexicographic and costs and any(lp.cost) and not stopped:
        work_bound = math.floor(upper1)
        # LP2: cheapest plan that keeps the work; GLOP restarts from LP1's basis.
        row = solver.Constraint(work_bound - 0.5, solver.infinity())
        variables = solver.variables()
        for v, a in enumerate(lp.work):
            if a:
                row.SetCoefficient(variables[v], a)
        objective = solver.Objective()
        objective.Clear()
        for v, c in enumerate(lp.cost):
            if c:
                objective.SetCoefficient(variables[v], c)
        objective.SetMinimization()
        with _interruptible(solver, should_stop):
            status2 = solver.Solve()
        if status2 in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
            values, duals2 = _read(solver)
            lp.row_lo.append(work_bound - 0.5)
            lp.row_hi.append(_INF)
            lp.row_idx.append([v for v, a in enumerate(lp.work) if a])
            lp.row_coef.append([a for a in lp.work if a])
            # min c'x = -max (-c)'x, whose multipliers are the negated ones.
            lower2 = -lp.safe_max([-c for c in lp.cost], [-y for y in duals2])
            cost_bounded = True
        elif status2 == pywraplp.Solver.INFEASIBLE:
            # No plan reaches work_bound after all (GLOP's tolerance), so no solution does.
            lower2 = math.inf
        # Otherwise (out of time, abnormal) LP2 proved nothing: lower2 keeps the bound
        # without the cost stage. Taking it as infeasible cut the bound by one unit of work,
        # below answers the checker accepted.
    solve_s = time.perf_counter() - start - build_s
    value, work = _combine(p, weights, built, upper1, lower2)
    jobs = {key: sum(values[v] * f for v, f in terms) for key, terms in built.group_vars.items()}
    prices = _prices(classes, built, duals1)
    answer = _answer(
        view,
        classes,
        built,
        value,
        work,
        "optimal" if status == pywraplp.Solver.OPTIMAL else "time_limit",
        values,
        jobs,
        build_s,
        solve_s,
        prices,
        cost_bounded,
    )
    if progress is not None:
        progress("lp_solved", {"value": value, "work": work, "solve_s": solve_s})
    return answer


def _unsolved(
    p: Problem,
    weights: ObjectiveWeights,
    view: View,
    classes: Classes,
    built: Built,
    build_s: float,
    solve_s: float,
) -> LpBound:
    """The bound without an LP solution (GLOP out of time before a basis, or should_stop ended
    the build): every decided job placed, at the least cost any plan could have. That cost is
    not 0: keeping a preemptible running job saves its eviction, a negative cost against
    `built.cost_const`, which counts every eviction (and, after a stopped build, only those of
    the classes built so far: lower still, so the bound is only looser)."""
    lexicographic = weights.work is None
    w = 1 if lexicographic else weights.work or 0
    saves = [weights.preemption * max(0, view.preempt_cost[jc.rep]) for jc in classes.jobs]
    upper = sum(
        len(jc.jobs) * (w * jc.work + (0 if lexicographic else save))
        for jc, save in zip(classes.jobs, saves, strict=True)
    )
    least_cost = -sum(len(jc.jobs) * save for jc, save in zip(classes.jobs, saves, strict=True))
    value, work = _combine(p, weights, built, float(upper), float(least_cost))
    empty = {k: 0.0 for k in built.group_vars}
    return _answer(view, classes, built, value, work, "time_limit", [], empty, build_s, solve_s)


def lp_pairs(view: View, classes: Classes) -> int:
    """At most how many (job class, node class) pairs `lp_bound` would build: the LP's variable
    count up to fit and gangs, from the classes alone (a second to classify 50,000 jobs).
    Running jobs that may move are classes of one, so a rebalancing problem of P jobs and C
    node classes has up to P x C pairs (ROADEF B/X: 50,000 x 1,934 = 97M, more than the memory
    the build would take)."""
    p = view.p
    sets = classes.node_classes_of_set
    return sum(len(sets[p.job_nodes[jc.rep]]) for jc in classes.jobs)


def _read(solver: pywraplp.Solver) -> tuple[list[float], list[float]]:
    """Primal values and duals in one copy each (per-variable calls cost ~4 us apiece)."""
    response = linear_solver_pb2.MPSolutionResponse()
    solver.FillSolutionResponseProto(response)
    return list(response.variable_value), list(response.dual_value)


def _combine(
    p: Problem,
    weights: ObjectiveWeights,
    built: Built,
    upper1: float,
    lower2: float,
) -> tuple[int, int | None]:
    """The bound on the evaluator's value from the LP's safe bounds (module docstring), and
    the bound on work alone when the LP had it as its own objective."""
    if weights.work is not None:
        # One LP: upper1 bounds W * work - costs of the decided part; the rest is constant.
        return math.floor(upper1) + weights.work * built.work_const - built.cost_const, None
    # value = Ww * work - cost // unit, and cost // unit only grows with cost.
    scale = objective_scale(p, weights)
    big, unit = scale.work_weight, scale.cost_unit
    work = built.work_const + math.floor(upper1)
    cost_min = built.cost_const // unit
    if lower2 == math.inf:
        return big * (work - 1) - cost_min, work - 1
    cost2 = (built.cost_const + math.ceil(lower2)) // unit
    return max(big * work - cost2, big * (work - 1) - cost_min), work


def _prices(classes: Classes, built: Built, duals: list[float]) -> tuple[tuple[float, ...], ...]:
    nr = len(classes.nodes[0].free) if classes.nodes else 0
    return tuple(
        tuple(
            max(0.0, duals[built.cap_rows[c, r]]) if (c, r) in built.cap_rows else 0.0
            for r in range(nr)
        )
        for c in range(len(classes.nodes))
    )


def _answer(
    view: View,
    classes: Classes,
    built: Built,
    value: int | None,
    work: int | None,
    status: str,
    values: list[float],
    jobs: Mapping[tuple[int, int], float],
    build_s: float,
    solve_s: float,
    prices: tuple[tuple[float, ...], ...] = (),
    cost_bounded: bool = False,
) -> LpBound:
    replicas = tuple(values[v] * per if values else 0.0 for v, per in built.pair_terms)
    return LpBound(
        value=value,
        work=work,
        status=status,
        view=view,
        classes=classes,
        pairs=tuple(built.pairs),
        replicas=replicas,
        jobs=jobs,
        prices=prices or tuple((0.0,) * view.num_resources for _ in classes.nodes),
        variables=len(built.lp.ub),
        constraints=len(built.lp.row_lo),
        build_s=build_s,
        solve_s=solve_s,
        cost_bounded=cost_bounded,
    )


__all__ = ["LpBound", "Pair", "lp_bound", "lp_pairs"]
