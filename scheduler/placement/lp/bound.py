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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ortools.linear_solver import linear_solver_pb2, pywraplp

from scheduler.placement.index.aggregate import (
    WHOLE,
    Classes,
    NodeClass,
    View,
    classify,
    replicas_per_node,
)
from scheduler.placement.judges.evaluator import objective_scale
from scheduler.placement.model.problem import ObjectiveWeights, Problem

Progress = Callable[[str, Mapping[str, object]], None]

_INF = math.inf
_EPS = 2.0**-53  # unit roundoff of a float
# The cost LP restarts from the work LP's basis but still took about as long again on the
# synthetic M city (52,000 variables: 0.6 s work LP, 2.8 s cost LP on the 2-core machine).
COST_STAGE_MAX_VARIABLES = 20_000
# Parameters of the dual-feasible functions whose bin-counting rows join the LP when opening
# nodes costs energy (k = 1 is the "above half" rule, which is always there).
_DFF_K = (2, 3, 4)


class Pair(NamedTuple):
    """A job class that may use a node class, and how many of its replicas fit one node."""

    job_class: int
    node_class: int
    per_node: int


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


class _Lp:
    """A sparse LP kept in plain lists: handed to GLOP as a proto, and re-read for the bound.

    Every variable carries two objective parts, its work and its weighted cost, so the same
    model serves the single weighted LP and both stages of the lexicographic one.
    """

    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.work: list[float] = []
        self.cost: list[float] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self.row_idx: list[list[int]] = []
        self.row_coef: list[list[float]] = []

    def var(self, ub: float, work: float = 0.0, cost: float = 0.0) -> int:
        self.lb.append(0.0)
        self.ub.append(ub)
        self.work.append(work)
        self.cost.append(cost)
        return len(self.ub) - 1

    def row(self, lo: float, hi: float) -> int:
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        self.row_idx.append([])
        self.row_coef.append([])
        return len(self.row_lo) - 1

    def add(self, row: int, var: int, coef: float) -> None:
        self.row_idx[row].append(var)
        self.row_coef[row].append(coef)

    def proto(self, objective: list[float], maximize: bool) -> linear_solver_pb2.MPModelProto:
        m = linear_solver_pb2.MPModelProto(maximize=maximize)
        for lb, ub, c in zip(self.lb, self.ub, objective, strict=True):
            m.variable.add(lower_bound=lb, upper_bound=ub, objective_coefficient=c)
        for lo, hi, idx, coef in zip(
            self.row_lo, self.row_hi, self.row_idx, self.row_coef, strict=True
        ):
            row = m.constraint.add(lower_bound=lo, upper_bound=hi)
            row.var_index.extend(idx)
            row.coefficient.extend(coef)
        return m

    def safe_max(self, objective: list[float], duals: list[float]) -> float:
        """An upper bound on max objective'x over the LP, from any row multipliers (weak
        duality, with a margin that covers every float rounding in the sums).

        Rounding: each reduced cost r_v = c_v - sum_i a_iv y_i accumulates at most k_v + 1
        roundings of relative size 2^-53 (k_v nonzeros in column v), each of at most
        scale_v = |c_v| + sum_i |a_iv y_i|; each product adds one more; the final sums use
        math.fsum, which rounds once. Twice that allowance is added.
        """
        reduced = list(objective)
        scale = [abs(c) for c in objective]
        count = [1] * len(objective)
        parts: list[float] = []
        for i, y in enumerate(duals):
            # A multiplier may only lean on a finite side of its row.
            if (y > 0 and self.row_hi[i] == _INF) or (y < 0 and self.row_lo[i] == -_INF):
                continue
            if y == 0.0:
                continue
            parts.append(y * (self.row_hi[i] if y > 0 else self.row_lo[i]))
            for v, a in zip(self.row_idx[i], self.row_coef[i], strict=True):
                reduced[v] -= a * y
                scale[v] += abs(a * y)
                count[v] += 1
        error = math.fsum(abs(x) for x in parts) * _EPS * 2
        for v, r in enumerate(reduced):
            bound = max(abs(self.lb[v]), abs(self.ub[v]))
            parts.append(max(r * self.lb[v], r * self.ub[v]))
            error += (count[v] + 2) * _EPS * scale[v] * bound
        return math.fsum(parts) + 2 * error + 1e-9


@dataclass
class _Built:
    lp: _Lp
    pairs: list[Pair]
    pair_terms: list[tuple[int, float]]  # [pair] (variable, replicas per unit of it)
    group_vars: dict[tuple[int, int], list[tuple[int, float]]]  # (job class, group) -> jobs
    cost_const: int  # cost of the undecided part and of evicting every preemptible job
    work_const: int  # work of the fixed running jobs
    cap_rows: dict[tuple[int, int], int]  # (node class, resource) -> row
    infeasible: bool  # a required class has no group that could hold it


def lp_bound(
    p: Problem,
    weights: ObjectiveWeights,
    *,
    time_limit_s: float | None = None,
    costs: bool | None = None,
    progress: Progress | None = None,
    view: View | None = None,
    classes: Classes | None = None,
) -> LpBound:
    """Solves the relaxation (see the module docstring) and returns its bound and plan.

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
    built = _build(view, classes, weights)
    lp = built.lp
    build_s = time.perf_counter() - start
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
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        solve_s = time.perf_counter() - start - build_s
        if status == pywraplp.Solver.INFEASIBLE:
            return _answer(view, classes, built, None, None, "infeasible", [], {}, build_s, solve_s)
        # Out of time before a basis: every decided job placed, at no cost, bounds the value
        # (a preemptible running job kept also saves its eviction cost).
        w = 1 if lexicographic else weights.work or 0
        upper = sum(
            len(jc.jobs)
            * (
                w * jc.work
                + (0 if lexicographic else weights.preemption * max(0, view.preempt_cost[jc.rep]))
            )
            for jc in classes.jobs
        )
        value, work = _combine(p, weights, built, float(upper), 0.0)
        return _answer(view, classes, built, value, work, "time_limit", [], empty, build_s, solve_s)
    values, duals1 = _read(solver)
    upper1 = lp.safe_max(first, duals1)
    cost_bounded = lexicographic and not any(lp.cost)
    # Without the cost stage, the least the decided part can cost within the variables' bounds
    # (negative where keeping a preemptible job saves its eviction), not 0.
    lower2 = -lp.safe_max([-c for c in lp.cost], [])
    if costs is None:
        costs = len(lp.ub) <= COST_STAGE_MAX_VARIABLES or all(jc.required for jc in classes.jobs)
    if lexicographic and costs and any(lp.cost):
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
    built: _Built,
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


def _prices(classes: Classes, built: _Built, duals: list[float]) -> tuple[tuple[float, ...], ...]:
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
    built: _Built,
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


def _build(view: View, classes: Classes, weights: ObjectiveWeights) -> _Built:
    p = view.p
    nr = view.num_resources
    lp = _Lp()
    node_classes = classes.nodes
    w_money, w_energy = weights.money, weights.energy
    w_move, w_preempt = weights.migration, weights.preemption
    built = _Built(lp, [], [], {}, 0, 0, {}, False)

    # Constants: fixed running jobs' work and money, and the open cost of nodes they keep open.
    for j in range(p.num_jobs):
        if view.fixed[j]:
            built.work_const += view.work[j]
            for n in view.current[j] or ():
                built.cost_const += w_money * view.money(j, view.node_type[n], p.node_group[n])
    built.cost_const += w_energy * sum(
        nc.open_cost * nc.size for nc in node_classes if nc.forced_open
    )

    # Energy: a variable per class whose nodes cost something to open.
    open_var: dict[int, int] = {}
    for c, nc in enumerate(node_classes):
        if w_energy and nc.open_cost and not nc.forced_open:
            open_var[c] = lp.var(float(nc.size), cost=float(w_energy * nc.open_cost))

    options_cache: dict[tuple[int, object], dict[int, list[tuple[int, int, tuple[int, ...]]]]] = {}
    money_cache: dict[tuple[tuple[int, ...], int], int] = {}
    # Pairs first: (job class, node class, per node, demand), grouped by job class and group.
    terms_by_class: dict[int, list[tuple[int, tuple[int, ...], int, float]]] = {}
    quota_usage: dict[int, list[tuple[int, float]]] = {}  # quota -> (var, usage per unit)
    count_rows: list[int] = []
    for k, jc in enumerate(classes.jobs):
        j = jc.rep
        n_k = len(jc.jobs)
        reps = jc.replicas
        count = lp.row(float(n_k) if jc.required else -_INF, float(n_k))
        count_rows.append(count)
        # Where one replica fits, by group: the same for every class of this node set and
        # demand (classes differ by priority, department, ...), so computed once for them.
        options_key = (p.job_nodes[j], p.job_demand[j] if j not in view.overrides else j)
        by_group = options_cache.get(options_key)
        if by_group is None:
            by_group = {}
            for c in classes.node_classes_of_set[p.job_nodes[j]]:
                nc = node_classes[c]
                demand = view.demand(j, nc.node_type)
                per = replicas_per_node(view, demand, nc)
                if per >= 1:
                    by_group.setdefault(nc.group, []).append((c, per, demand))
            options_cache[options_key] = by_group
        pc = view.preempt_cost[j] if jc.flexible else -1
        current = set(view.current[j] or ()) if jc.flexible else set()
        dept = view.department[j]
        placed_any = False
        work = float(jc.work)
        count_idx, count_coef = lp.row_idx[count], lp.row_coef[count]
        for g, options in sorted(by_group.items()):
            room = sum(node_classes[c].size * per for c, per, _ in options)
            if room < reps:
                continue  # the whole gang never fits this group
            placed_any = True
            group_terms = built.group_vars.setdefault((k, g), [])
            # Evicting a preemptible job costs pc (a constant below); placing it saves pc.
            gain = w_preempt * pc if pc >= 0 else 0
            # Single replicas need no group variable: each replica is a whole job. A gang gets
            # z (jobs in the group) and, when the group offers it several node classes, x per
            # class tied to z by the gang row.
            z, gang = -1, -1
            if reps > 1:
                z = lp.var(float(min(n_k, room // reps)), work=work, cost=float(-gain))
                group_terms.append((z, 1.0))
                lp.add(count, z, 1.0)
                if len(options) > 1:
                    gang = lp.row(0.0, 0.0)
                    lp.add(gang, z, -float(reps))
            for c, per, demand in options:
                nc = node_classes[c]
                if j in view.overrides:
                    cost = w_money * view.money(j, nc.node_type, g)
                else:
                    key2 = (demand, g)
                    money = money_cache.get(key2)
                    if money is None:
                        money = view.money(j, nc.node_type, g)
                        money_cache[key2] = money
                    cost = w_money * money
                if jc.flexible and w_move and view.move_cost[j] >= 0:
                    cost += w_move * _move_lower_bound(view, j, current, nc.nodes)
                if reps == 1:
                    var = len(lp.ub)
                    lp.lb.append(0.0)
                    lp.ub.append(float(min(n_k, nc.size * per)))
                    lp.work.append(work)
                    lp.cost.append(float(cost - gain))
                    group_terms.append((var, 1.0))
                    count_idx.append(var)
                    count_coef.append(1.0)
                    unit = 1.0
                elif gang >= 0:
                    var = lp.var(float(min(n_k * reps, nc.size * per)), cost=float(cost))
                    lp.add(gang, var, 1.0)
                    unit = 1.0
                else:
                    lp.cost[z] += float(cost * reps)
                    var, unit = z, float(reps)
                built.pairs.append(Pair(k, c, per))
                built.pair_terms.append((var, unit))
                terms_by_class.setdefault(c, []).append((var, demand, per, unit))
                if dept >= 0:
                    for q in view.scopes.covering(dept, g):
                        r = p.quotas[q].resource
                        if demand[r]:
                            quota_usage.setdefault(q, []).append((var, unit * demand[r]))
        if pc >= 0:
            built.cost_const += w_preempt * pc
        if not placed_any and jc.required:
            built.infeasible = True
    for c, terms in sorted(terms_by_class.items()):
        nc = node_classes[c]
        y = open_var.get(c, -1)
        for r in range(nr):
            users = [(v, dem[r] * unit) for v, dem, _, unit in terms if dem[r]]
            if not users:
                continue
            row = lp.row(-_INF, 0.0 if y >= 0 else float(nc.size * nc.free[r]))
            built.cap_rows[c, r] = row
            for v, a in users:
                lp.add(row, v, a)
            if y >= 0:
                lp.add(row, y, -float(nc.free[r]))
            # At most one replica per node among those above half of a resource.
            big = [(v, unit) for v, dem, _, unit in terms if 2 * dem[r] > nc.free[r]]
            if len(big) > 1 or (big and y >= 0):
                row = lp.row(-_INF, 0.0 if y >= 0 else float(nc.size))
                for v, unit in big:
                    lp.add(row, v, unit)
                if y >= 0:
                    lp.add(row, y, -1.0)
            if y >= 0:
                _dff_rows(lp, terms, r, nc.free[r], y)
        if view.has_devices and nc.shares:
            _device_row(view, lp, nc, terms, y)
    # Quotas: what fixed running jobs already use comes off the limit.
    fixed_usage = [0] * len(p.quotas)
    if p.quotas:
        for j in range(p.num_jobs):
            if view.fixed[j]:
                view.scopes.add(
                    fixed_usage,
                    j,
                    view.current[j] or (),
                    lambda k, n: view.demand(k, view.node_type[n]),
                )
    for q, quota in enumerate(p.quotas):
        usage = quota_usage.get(q)
        if not usage:
            continue
        limit = quota.nominal + quota.borrow_limit - fixed_usage[q]
        row = lp.row(-_INF, float(max(0, limit)))
        for v, a in usage:
            lp.add(row, v, a)
    return built


def _dff_rows(
    lp: _Lp, terms: list[tuple[int, tuple[int, ...], int, float]], r: int, cap: int, y: int
) -> None:
    """Bin-counting rows for the open nodes of a class (vector bin packing's lower bound):
    for the dual-feasible functions u_k (Fekete and Schepers), sum u_k(d_r / F_r) over the
    replicas on a node is at most 1, so over the class at most y. u_k(x) = x when (k+1)x is
    an integer, else floor((k+1)x) / k; it rounds mid-sized items up, which volume cannot."""
    for k in _DFF_K:
        users: list[tuple[int, float]] = []
        stronger = False
        for v, dem, _, unit in terms:
            q = dem[r]
            if not q:
                continue
            if ((k + 1) * q) % cap == 0:
                coef = q / cap
            else:
                coef = ((k + 1) * q // cap) / k
                stronger = stronger or coef > q / cap
            if coef:
                users.append((v, coef * unit))
        if not stronger:
            continue  # no rounding up: the capacity row already says as much
        row = lp.row(-_INF, 0.0)
        for v, a in users:
            lp.add(row, v, a)
        lp.add(row, y, -1.0)


def _device_row(
    view: View,
    lp: _Lp,
    nc: NodeClass,
    terms: list[tuple[int, tuple[int, ...], int, float]],
    y: int,
) -> None:
    """Rows that count devices, where the gpu quantity alone would let replicas share one.

    A whole-device replica needs devices with nothing on them, and a share above half a device
    cannot sit beside another such share or a whole-device replica on the same device.
    """
    full = sum(1 for s in nc.shares if s == WHOLE)
    above_half = sum(1 for s in nc.shares if 2 * s > WHOLE)
    whole = [
        (v, dem[view.gpu] // WHOLE * unit)
        for v, dem, _, unit in terms
        if dem[view.gpu] > 0 and dem[view.gpu] % WHOLE == 0
    ]
    halves = [(v, unit) for v, dem, _, unit in terms if 2 * (dem[view.gpu] % WHOLE) > WHOLE]
    rows: list[tuple[list[tuple[int, float]], int]] = []
    if whole and full < len(nc.shares):
        rows.append((whole, full))
    if halves:
        rows.append((whole + halves, above_half))
    for users, devices in rows:
        row = lp.row(-_INF, 0.0 if y >= 0 else float(nc.size * devices))
        for v, a in users:
            lp.add(row, v, a)
        if y >= 0:
            lp.add(row, y, -float(devices))


def _move_lower_bound(view: View, j: int, current: set[int], nodes: tuple[int, ...]) -> int:
    """Least migration cost of one replica of running job j on a node of `nodes`."""
    if current.intersection(nodes):
        return 0
    matrix = view.p.node_move_cost
    extra = min((matrix[a][b] for a in current for b in nodes), default=0) if matrix else 0
    return view.move_cost[j] + extra


__all__ = ["WHOLE", "LpBound", "Pair", "lp_bound"]
