"""The objective of the CP-SAT model: evaluator.py's terms, one function each, same integers.

Each function returns a `Lin` of its unweighted term. Cost terms of the form max(0, ...) use a
variable bounded below by every branch: the search pushes it down, so at an optimum (and in
every solution the evaluator scores) it equals the evaluator's term. Constants the scope fixes
stay in the `Lin`, so the exact model's objective is the evaluator's value, not a shift of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.placement.cpsat.variables import (
    IntVar,
    Lin,
    Parts,
    Reader,
    any_of,
    equals,
    excess,
    strictly_between,
)
from scheduler.placement.index.facts import WHOLE
from scheduler.placement.judges.scale import objective_scale
from scheduler.placement.model.problem import Balance, ObjectiveWeights, Problem


@dataclass(frozen=True)
class TermWeights:
    """The evaluator's multipliers for one problem: `work` resolved to an integer and the cost
    unit the weighted cost sum is floor-divided by (1 on every realistic problem)."""

    work: int
    cost_unit: int
    preemption: int
    migration: int
    money: int
    energy: int
    load: int
    balance: int
    fragmentation: int

    @staticmethod
    def of(p: Problem, weights: ObjectiveWeights) -> TermWeights:
        scale = objective_scale(p, weights)
        costs = {name: getattr(weights, name) for name in TERMS}
        return TermWeights(work=scale.work_weight, cost_unit=scale.cost_unit, **costs)


TERMS = ("preemption", "migration", "money", "energy", "load", "balance", "fragmentation")


class Objective:
    """The model's objective: its terms as expressions, and exact integer readings of them."""

    def __init__(self, parts: Parts, w: TermWeights) -> None:
        self.weights = w
        self.terms: dict[str, Lin] = {
            "work": work(parts),
            "preemption": preemption(parts),
            "migration": migration(parts),
            "money": money(parts),
            "energy": energy(parts) if w.energy else Lin(),
        }
        # Load and balance term by term as well (the migration polish, stages/polish.py, caps
        # each at its floor); built here so the variables keep their order in the model.
        self.load_rows = load_rows(parts) if w.load else {}
        self.balance_rows = balance_rows(parts) if w.balance else []
        self.terms["load"] = Lin()
        for r, row in self.load_rows.items():
            self.terms["load"].extend(row, parts.facts.load_weight[r])
        self.terms["balance"] = Lin()
        for b, row in zip(parts.facts.p.balances, self.balance_rows, strict=True):
            self.terms["balance"].extend(row, b.weight)
        self.terms["fragmentation"] = fragmentation(parts) if w.fragmentation else Lin()
        cost = Lin()
        for name in TERMS:
            _accumulate(cost, self.terms[name], getattr(w, name))
        total = Lin()
        _accumulate(total, self.terms["work"], w.work)
        if w.cost_unit == 1:
            _accumulate(total, cost, -1)
        else:
            # The evaluator floors the weighted cost by the unit; so does the model, exactly.
            model = parts.model
            whole = model.new_int_var(0, max(0, cost.max_value()), "cost")
            model.add(whole == cost.expr())
            scaled = model.new_int_var(0, max(0, cost.max_value()) // w.cost_unit, "cost_units")
            model.add_division_equality(scaled, whole, w.cost_unit)
            parts.derive(whole, cost.eval)
            unit = w.cost_unit
            parts.derive(scaled, lambda read: cost.eval(read) // unit)
            total.add(scaled, -1)
        # CP-SAT gets the variable part only; the constant is added back when reading values.
        self.constant = total.const
        parts.model.maximize(cp_model.LinearExpr.weighted_sum(total.vars, total.coefs))

    def value(self, solver: cp_model.CpSolver) -> int:
        """The evaluator's formula on the solver's term values."""
        return self.value_at(lambda v: v if isinstance(v, int) else int(solver.value(v)))

    def value_at(self, read_var: Reader) -> int:
        """The evaluator's formula where each variable's value is read_var(v)."""
        w = self.weights
        read = {name: lin.eval(read_var) for name, lin in self.terms.items()}
        cost: int = sum(getattr(w, name) * read[name] for name in TERMS)
        return w.work * read["work"] - cost // w.cost_unit

    def bound(self, solver: cp_model.CpSolver) -> int:
        """CP-SAT's proven upper bound, exactly: the response keeps it as an integer (the
        double it reports loses precision above 2^53, and values here reach 2^62)."""
        inner: int = solver.response_proto.inner_objective_lower_bound
        return -inner + self.constant


def _accumulate(total: Lin, term: Lin, weight: int) -> None:
    if weight:
        total.extend(term, weight)


def work(parts: Parts) -> Lin:
    """Priority-weighted work of the placed jobs (every member of a class weighs the same)."""
    lin = Lin()
    job_work = parts.job_work
    for u, cls in enumerate(parts.classes):
        lin.add(parts.placed[u], job_work[cls.rep], cls.size)
    return lin


def preemption(parts: Parts) -> Lin:
    """Preemption cost of every running job left out."""
    facts = parts.facts
    lin = Lin()
    for u, cls in enumerate(parts.classes):
        j = cls.rep
        if facts.running(j) and facts.preemptible(j):
            lin.const += facts.preempt_cost[j]
            lin.add(parts.placed[u], -facts.preempt_cost[j])
    return lin


def migration(parts: Parts) -> Lin:
    """Moved replicas x move cost, node-to-node move costs, and the service move penalty."""
    facts = parts.facts
    p = facts.p
    lin = Lin()
    for u, moved in parts.moved.items():
        j = parts.classes[u].rep
        lin.extend(moved, max(0, facts.move_cost[j]))
        if p.node_move_cost and facts.migratable(j):
            _node_move_costs(parts, u, j, lin)
    if p.service_move_weight and p.services:
        _service_moves(parts, lin)
    return lin


def _node_move_costs(parts: Parts, u: int, j: int, lin: Lin) -> None:
    """Cost node_move_cost[a][b] per replica moved from a to b: a transport from the replicas
    that left former nodes to the ones that arrived, at least cost (the evaluator's matching)."""
    facts, model = parts.facts, parts.model
    current = facts.current_count[j]
    assert current is not None
    if facts.p.job_replicas[j] == 1:
        (a,) = current
        for b in parts.nodes_of[u]:
            if b != a:
                lin.add(parts.x[u, b], facts.node_move_cost(a, b), parts.ub[u, b])
        return
    # Replicas arrive wherever x exceeds what stayed, former nodes included.
    arrivals = parts.nodes_of[u]
    inflow: dict[int, Lin] = {b: Lin() for b in arrivals}

    def pairing(read: Reader) -> dict[tuple[int, int], int]:
        """Some feasible transport (the hint's); the search finds the cheapest."""
        gone = [
            a
            for a, c in current.items()
            for _ in range(c * read(parts.placed[u]) - read(parts.kept.get((u, a), 0)))
        ]
        came = [
            b
            for b in arrivals
            for _ in range(read(parts.x[u, b]) - read(parts.kept.get((u, b), 0)))
        ]
        out: dict[tuple[int, int], int] = {}
        for a, b in zip(gone, came, strict=False):
            out[a, b] = out.get((a, b), 0) + 1
        return out

    for a, c in current.items():
        outflow = Lin()
        for b in arrivals:
            if b == a:
                continue
            f = model.new_int_var(0, min(c, parts.ub[u, b]), "")
            parts.derive(f, _flow_rule(pairing, a, b))
            outflow.add(f)
            inflow[b].add(f)
            lin.add(f, facts.node_move_cost(a, b))
        left = Lin()
        left.add(parts.placed[u], c)
        left.add(parts.kept.get((u, a), 0), -1)
        model.add(outflow.expr() == left.expr())
    for b in arrivals:
        arrived = Lin()
        arrived.add(parts.x[u, b])
        arrived.add(parts.kept.get((u, b), 0), -1)
        model.add(inflow[b].expr() == arrived.expr())


def _flow_rule(
    pairing: Callable[[Reader], dict[tuple[int, int], int]], a: int, b: int
) -> Callable[[Reader], int]:
    return lambda read: pairing(read).get((a, b), 0)


def _service_moves(parts: Parts, lin: Lin) -> None:
    """service_move_weight x the largest number of moved replicas in any one service."""
    p, model = parts.facts.p, parts.model
    fixed_moves = parts.fixed_service_moves
    floor = 0
    sums: list[Lin] = []
    for s, service in enumerate(p.services):
        total = Lin(fixed_moves.get(s, 0))
        for j in service.jobs:
            u = parts.class_of.get(j)
            if u is not None and u in parts.moved:
                total.extend(parts.moved[u])
        if total.has_vars:
            sums.append(total)
        else:
            floor = max(floor, total.const)
    if not sums:
        lin.const += p.service_move_weight * floor
        return
    most = max(floor, *(t.max_value() for t in sums))
    peak = model.new_int_var(floor, most, "service_moves")
    for total in sums:
        model.add(peak >= total.expr())
    parts.derive(peak, lambda read: max(floor, *(t.eval(read) for t in sums)))
    lin.add(peak, p.service_move_weight)


def money(parts: Parts) -> Lin:
    """Price of every placed replica where it runs."""
    facts = parts.facts
    lin = Lin()
    for (u, n), x in parts.x.items():
        lin.add(x, facts.replica_cost(parts.classes[u].rep, n), parts.ub[u, n])
    return lin


def energy(parts: Parts) -> Lin:
    """Open cost of every node that hosts at least one replica.

    Interchangeable nodes (`_interchangeable`) open in index order: any solution maps onto
    one that does by relabelling those nodes, at the same value, so the optimum stays and the
    search no longer tries every permutation of identical bins (vector bin packing)."""
    facts, model = parts.facts, parts.model
    lin = Lin()
    opened: dict[int, IntVar] = {}
    for n in sorted(parts.scope.nodes):
        cost = facts.open_cost[n]
        if not cost:
            continue
        if parts.fixed.replicas.get(n, 0) > 0:
            lin.const += cost
            continue
        users = parts.on_node.get(n, ())
        if not users:
            continue
        is_open = model.new_bool_var(f"open_{n}")
        xs = [parts.x[u, n] for u in users]
        for u, x in zip(users, xs, strict=True):
            model.add(x <= parts.ub[u, n] * is_open)
        # The same per resource: a closed node holds nothing. Implied by the rows above, but
        # it gives the LP relaxation the bin-packing bound (sum of sizes / capacity per open
        # node) instead of counting a node open at any small fraction.
        capacity = facts.p.node_capacity[n]
        for r in range(facts.p.num_resources):
            used = parts.usage(n, r)
            if used.has_vars and used.max_value() > used.const:
                room = max(0, capacity[r] - used.const)
                model.add(used.expr() <= used.const + room * is_open)
        parts.derive(is_open, any_of(xs))
        lin.add(is_open, cost)
        opened[n] = is_open
    for nodes in _interchangeable(parts, sorted(opened)):
        parts.symmetric.append(nodes)
        for a, b in itertools.pairwise(nodes):
            model.add(opened[a] >= opened[b])
    return lin


def _interchangeable(parts: Parts, nodes: list[int]) -> list[list[int]]:
    """Classes (two or more, ascending) of scope nodes that no constraint or term tells apart:
    equal data in everything a node has, in the same node sets, nothing fixed on them, not a
    running job's node, no devices."""
    facts = parts.facts
    p = facts.p
    if p.node_move_cost:
        return []  # a move's cost depends on the node it goes to
    fixed = parts.fixed
    former = {n for counts in facts.current_count if counts for n in counts}
    wanted = set(nodes)
    sets_of: dict[int, list[int]] = {}
    for s, members in enumerate(p.node_sets):
        for n in members:
            if n in wanted:
                sets_of.setdefault(n, []).append(s)
    by_key: dict[tuple[object, ...], list[int]] = {}
    for n in nodes:
        if (
            n in former
            or facts.devices[n]
            or fixed.replicas.get(n, 0)
            or n in fixed.usage
            or n in fixed.transient
            or n in fixed.on_node
            or parts.incumbent_on_node.get(n)
        ):
            continue
        key = (
            p.node_capacity[n],
            facts.reserved[n],
            facts.safety[n],
            facts.node_type[n],
            p.node_group[n],
            facts.open_cost[n],
            p.node_domains[n] if p.node_domains else (),
            tuple(sets_of.get(n, ())),
            tuple(sorted(parts.on_node.get(n, ()))),
            tuple(parts.ub[u, n] for u in sorted(parts.on_node.get(n, ()))),
        )
        by_key.setdefault(key, []).append(n)
    return [members for members in by_key.values() if len(members) > 1]


def load_rows(parts: Parts) -> dict[int, Lin]:
    """Per weighted resource r: usage above the nodes' safety level, unweighted."""
    facts, model = parts.facts, parts.model
    rows = {r: Lin() for r, weight in enumerate(facts.load_weight) if weight}
    # Node by node, as the variables were always created (the model, and so the search, is
    # the same as before the rows were split).
    for n in sorted(parts.scope.nodes):
        for r, lin in rows.items():
            used = parts.usage(n, r)
            safety = facts.safety[n][r]
            if not used.has_vars:
                lin.const += max(0, used.const - safety)
                continue
            most = used.max_value() - safety
            if most <= 0:
                continue
            over = model.new_int_var(0, most, f"over_{n}_{r}")
            model.add(over >= used.expr() - safety)
            parts.derive(over, excess(used, safety))
            lin.add(over, 1, most)
    return rows


def balance_gap(parts: Parts, b: Balance, n: int) -> Lin:
    """target x avail(r1) - avail(r2) on node n, the shortfall before max(0, .)."""
    cap = parts.facts.p.node_capacity
    # target*(cap1 - used1) - (cap2 - used2) = const - target*used1 + used2
    gap = Lin(b.target * cap[n][b.r1] - cap[n][b.r2])
    gap.extend(parts.usage(n, b.r1), -b.target)
    gap.extend(parts.usage(n, b.r2))
    return gap


def balance_rows(parts: Parts) -> list[Lin]:
    """Per Balance (p.balances' order): max(0, target x avail(r1) - avail(r2)) summed over
    nodes, unweighted (empty for a balance of weight 0)."""
    facts, model = parts.facts, parts.model
    rows: list[Lin] = []
    for b in facts.p.balances:
        lin = Lin()
        rows.append(lin)
        if not b.weight:
            continue
        for n in sorted(parts.scope.nodes):
            gap = balance_gap(parts, b, n)
            if not gap.has_vars:
                lin.const += max(0, gap.const)
                continue
            most = gap.max_value()
            if most <= 0:
                continue
            short = model.new_int_var(0, most, f"balance_{n}_{b.r1}_{b.r2}")
            model.add(short >= gap.expr())
            parts.derive(short, excess(gap))
            lin.add(short, 1, most)
    return rows


def fragmentation(parts: Parts) -> Lin:
    """Devices partly used (0 < load < 1000) after the decision."""
    facts, model = parts.facts, parts.model
    lin = Lin()
    if facts.gpu < 0:
        return lin
    for n in sorted(parts.scope.nodes):
        for k in range(facts.devices[n]):
            base = parts.fixed.device_load.get((n, k), 0)
            load_k = parts.dev_load.get((n, k))
            if load_k is None:
                lin.const += 1 if 0 < base < WHOLE else 0
                continue
            partial = model.new_bool_var(f"partial_{n}_{k}")
            full = model.new_bool_var(f"full_{n}_{k}")
            model.add(load_k.expr() == WHOLE).only_enforce_if(full)
            # A device with fixed load is in use whatever is decided; others when opened.
            opened = parts.dev_open.get((n, k))
            model.add(partial + full >= (1 if opened is None else opened))
            lin.add(partial)
            parts.derive(full, equals(load_k, WHOLE))
            parts.derive(partial, strictly_between(load_k, 0, WHOLE))
    return lin
