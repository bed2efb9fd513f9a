"""The LP itself: a sparse LP kept in plain lists (`Lp`), and its variables and rows built from
the problem's job and node classes (`build_lp`): capacity, jobs per class, bin-counting and
device rows, move costs. bound.py solves it and reads the bound."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from ortools.linear_solver import linear_solver_pb2

from scheduler.placement.index.aggregate import (
    WHOLE,
    Classes,
    NodeClass,
    View,
    replicas_per_node,
)
from scheduler.placement.model.params import ShouldStop
from scheduler.placement.model.problem import ObjectiveWeights

_INF = math.inf
_EPS = 2.0**-53  # unit roundoff of a float
# Parameters of the dual-feasible functions whose bin-counting rows join the LP when opening
# nodes costs energy (k = 1 is the "above half" rule, which is always there).
_DFF_K = (2, 3, 4)


class Pair(NamedTuple):
    """A job class that may use a node class, and how many of its replicas fit one node."""

    job_class: int
    node_class: int
    per_node: int


class Lp:
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
class Built:
    lp: Lp
    pairs: list[Pair]
    pair_terms: list[tuple[int, float]]  # [pair] (variable, replicas per unit of it)
    group_vars: dict[tuple[int, int], list[tuple[int, float]]]  # (job class, group) -> jobs
    cost_const: int  # cost of the undecided part and of evicting every preemptible job
    work_const: int  # work of the fixed running jobs
    cap_rows: dict[tuple[int, int], int]  # (node class, resource) -> row
    infeasible: bool  # a required class has no group that could hold it
    # should_stop said True before the LP was whole: only work_const is complete; the rest
    # holds what was built so far and must not be solved (bound.py bounds without it).
    stopped: bool = False


def build_lp(
    view: View,
    classes: Classes,
    weights: ObjectiveWeights,
    should_stop: ShouldStop | None = None,
) -> Built:
    """The LP of `view`'s classes. `should_stop` is asked before each job class and each of its
    groups, before the capacity rows of each node class and resource, every 1,024 jobs of the
    quotas' fixed usage and before each quota's row; once it says True the build ends at once
    with `stopped` set. On the synthetic L city (100,000 jobs x 5,000 nodes, a 2.3-s build;
    timed by a should_stop that records the time between its calls) the longest stretches
    between two questions are Python's full garbage collections, up to 0.27 s each, and the
    last quota's row, 0.22 s."""
    p = view.p
    nr = view.num_resources
    lp = Lp()
    node_classes = classes.nodes
    w_money, w_energy = weights.money, weights.energy
    w_move, w_preempt = weights.migration, weights.preemption
    built = Built(lp, [], [], {}, 0, 0, {}, False)

    def halt() -> bool:
        if should_stop is not None and should_stop():
            built.stopped = True
        return built.stopped

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
        if halt():
            return built
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
            if halt():
                return built
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
            if halt():
                return built
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
            if j % 1024 == 0 and halt():
                return built
            if view.fixed[j]:
                view.scopes.add(
                    fixed_usage,
                    j,
                    view.current[j] or (),
                    lambda k, n: view.demand(k, view.node_type[n]),
                )
    for q, quota in enumerate(p.quotas):
        if halt():
            return built
        usage = quota_usage.get(q)
        if not usage:
            continue
        limit = quota.nominal + quota.borrow_limit - fixed_usage[q]
        row = lp.row(-_INF, float(max(0, limit)))
        for v, a in usage:
            lp.add(row, v, a)
    return built


def _dff_rows(
    lp: Lp, terms: list[tuple[int, tuple[int, ...], int, float]], r: int, cap: int, y: int
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
    lp: Lp,
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
