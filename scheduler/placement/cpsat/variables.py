"""The decision variables of the CP-SAT model, and the parts every constraint family reads.

Per job class u (interchangeable jobs, see cpsat_data.job_classes) and candidate node n:
x[u, n] = replicas of u's jobs on n, an integer bounded by what fits on n. placed[u] = jobs of
u that run (0..size). Gangs that could land in more than one group get gangs[u, g] = jobs of
u placed in group g, with sum over n in g of x[u, n] == replicas * gangs[u, g]. Booleans
appear only where a family needs a yes/no: evictions, open nodes, devices, domains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from scheduler.placement.cpsat.scope import Fixed, JobClass, Scope, job_classes
from scheduler.placement.index.facts import WHOLE, Facts

IntVar = cp_model.IntVar
Value = IntVar | int
# Reads a variable's value in a candidate solution (a hint being completed).
Reader = Callable[[Value], int]


class Lin:
    """A linear expression under construction whose constant part is tracked separately, so a
    family can tell "fixed by the scope" (no variables) from "decided here". It also tracks
    its largest possible value, which lets families skip rows that can never bind."""

    __slots__ = ("_top", "coefs", "const", "vars")

    def __init__(self, const: int = 0) -> None:
        self.vars: list[IntVar] = []
        self.coefs: list[int] = []
        self.const = const
        self._top = 0  # largest value of the variable part

    def add(self, v: Value, coef: int = 1, hi: int | None = None) -> None:
        """Adds coef * v; `hi` is v's upper bound when the caller knows it (all variables of
        this model have lower bound 0), else it is read from the model."""
        if isinstance(v, int):
            self.const += v * coef
        elif coef:
            self.vars.append(v)
            self.coefs.append(coef)
            if coef > 0:
                self._top += coef * (_upper(v) if hi is None else hi)

    def extend(self, other: Lin, factor: int = 1) -> None:
        """Adds factor * other."""
        for v, c in zip(other.vars, other.coefs, strict=True):
            self.vars.append(v)
            self.coefs.append(c * factor)
        self.const += other.const * factor
        if factor > 0:
            self._top += factor * other._top
        elif factor < 0:
            # -other's largest value needs other's lower bounds: recompute from the model.
            self._top += factor * other.min_value_of_vars()

    @property
    def has_vars(self) -> bool:
        return bool(self.vars)

    def max_value(self) -> int:
        """Largest value the expression can take within its variables' domains."""
        return self.const + self._top

    def min_value_of_vars(self) -> int:
        """Smallest value of the variable part (negative coefficients at their upper bounds)."""
        return sum(c * _upper(v) for v, c in zip(self.vars, self.coefs, strict=True) if c < 0)

    def expr(self) -> cp_model.LinearExprT:
        return cp_model.LinearExpr.weighted_sum(self.vars, self.coefs) + self.const

    def eval(self, read: Reader) -> int:
        """The expression's value where each variable's value is read(v)."""
        return self.const + sum(c * read(v) for v, c in zip(self.vars, self.coefs, strict=True))

    def value(self, solver: cp_model.CpSolver) -> int:
        """The expression's value in the solver's solution, as an exact integer."""
        return self.const + sum(
            c * int(solver.value(v)) for v, c in zip(self.vars, self.coefs, strict=True)
        )


# Rules for Parts.derive: how an auxiliary variable follows from the decisions.


def positive(lin: Lin) -> Callable[[Reader], int]:
    """1 if lin > 0 (a domain covered, a device in use), else 0."""
    return lambda read: int(lin.eval(read) > 0)


def excess(lin: Lin, level: int = 0) -> Callable[[Reader], int]:
    """max(0, lin - level) (load above safety, balance shortfall)."""
    return lambda read: max(0, lin.eval(read) - level)


def any_of(values: list[Value]) -> Callable[[Reader], int]:
    """1 if any of `values` is non-zero (a node hosts a replica), else 0."""
    return lambda read: int(any(read(v) for v in values))


def equals(lin: Lin, target: int) -> Callable[[Reader], int]:
    return lambda read: int(lin.eval(read) == target)


def strictly_between(lin: Lin, low: int, high: int) -> Callable[[Reader], int]:
    return lambda read: int(low < lin.eval(read) < high)


def _upper(v: IntVar) -> int:
    domain = v.proto.domain
    # The proto's repeated field has no negative indexing.
    return int(domain[len(domain) - 1])


@dataclass
class Parts:
    """Everything a constraint family or objective term needs: one object, passed around."""

    model: cp_model.CpModel
    facts: Facts
    scope: Scope
    fixed: Fixed
    classes: list[JobClass]
    # Jobs on every node in the incumbent (empty for the exact model): constants of relations
    # that reach outside the scope (evictions justified by work on former nodes).
    incumbent_on_node: dict[int, list[int]]
    class_of: dict[int, int] = field(default_factory=dict)  # job -> class index
    x: dict[tuple[int, int], Value] = field(default_factory=dict)
    ub: dict[tuple[int, int], int] = field(default_factory=dict)
    nodes_of: list[list[int]] = field(default_factory=list)  # class -> candidate nodes
    on_node: dict[int, list[int]] = field(default_factory=dict)  # node -> candidate classes
    gangs: dict[tuple[int, int], IntVar] = field(default_factory=dict)  # (class, group)
    placed: list[Value] = field(default_factory=list)  # class -> jobs placed
    # Replicas of running class u kept on former node a: min(former count, x[u, a]).
    kept: dict[tuple[int, int], Value] = field(default_factory=dict)
    moved: dict[int, Lin] = field(default_factory=dict)  # running class -> moved replicas
    # Devices: share[u, n, k] replicas of u on device k of n; dev_open[n, k] device k of n
    # holds decided shares (only devices with no fixed load).
    share: dict[tuple[int, int, int], IntVar] = field(default_factory=dict)
    dev_open: dict[tuple[int, int], IntVar] = field(default_factory=dict)
    dev_load: dict[tuple[int, int], Lin] = field(default_factory=dict)  # share load per device
    # Priority-weighted work of each job (the evaluator's), and moved replicas of the fixed
    # members of each service (the service move penalty is a max over all services).
    job_work: tuple[int, ...] = ()
    fixed_service_moves: dict[int, int] = field(default_factory=dict)
    # Auxiliary variables and how to compute each from the decision variables, in creation
    # order: a hint is completed with them (CP-SAT's hint search gives up on partial hints
    # of device-heavy pieces, measured on the synthetic cities).
    derived: list[tuple[IntVar, Callable[[Reader], int]]] = field(default_factory=list)
    # Memos shared by families: usage per quota, classes per department.
    quota_usage: dict[int, Lin] = field(default_factory=dict)
    by_department: dict[int, list[int]] = field(default_factory=dict)
    # Interchangeable scope nodes (cpsat_objective.energy), each list ascending: a solution
    # must open them in that order, so a hint is relabelled to match (CpSatModel.hint).
    symmetric: list[list[int]] = field(default_factory=list)

    def derive(self, var: IntVar, rule: Callable[[Reader], int]) -> IntVar:
        """Registers how `var` follows from the decisions; returns it."""
        self.derived.append((var, rule))
        return var

    def free_capacity(self, n: int) -> list[int]:
        """Capacity of node n left by reserved usage and the scope's fixed jobs."""
        facts = self.facts
        cap = facts.p.node_capacity[n]
        used = self.fixed.usage.get(n)
        extra = self.fixed.transient.get(n)
        out = []
        for r in range(facts.p.num_resources):
            left = cap[r] - facts.reserved[n][r]
            if used is not None:
                left -= used[r]
            if extra is not None:
                left -= extra[r]
            out.append(left)
        return out

    def usage(self, n: int, r: int) -> Lin:
        """Final usage of resource r on node n: reserved, fixed and decided replicas."""
        facts = self.facts
        used = self.fixed.usage.get(n)
        lin = Lin(facts.reserved[n][r] + (used[r] if used is not None else 0))
        for u in self.on_node.get(n, ()):
            d = facts.demand(self.classes[u].rep, n)[r]
            if d:
                lin.add(self.x[u, n], d, self.ub[u, n])
        return lin


def build_parts(
    model: cp_model.CpModel,
    facts: Facts,
    scope: Scope,
    fixed: Fixed,
    incumbent_on_node: dict[int, list[int]],
) -> Parts:
    """Creates x, gangs and placed for every class of the scope's jobs."""
    classes = job_classes(facts, scope.jobs)
    parts = Parts(model, facts, scope, fixed, classes, incumbent_on_node)
    for u, cls in enumerate(parts.classes):
        for j in cls.jobs:
            parts.class_of[j] = u
        d = facts.department[cls.rep]
        if d >= 0:
            parts.by_department.setdefault(d, []).append(u)
    room = {n: parts.free_capacity(n) for n in scope.nodes}
    free_devices = _free_devices(facts, scope, fixed)
    for u, cls in enumerate(parts.classes):
        _class_variables(parts, u, cls, room, free_devices)
    return parts


def _free_devices(facts: Facts, scope: Scope, fixed: Fixed) -> dict[int, tuple[int, int]]:
    """Per device node in scope: (devices free of fixed load, share room on all devices)."""
    out: dict[int, tuple[int, int]] = {}
    if facts.gpu < 0:
        return out
    for n in scope.nodes:
        count = facts.devices[n]
        if count <= 0:
            continue
        loads = [fixed.device_load.get((n, k), 0) for k in range(count)]
        out[n] = (sum(1 for load in loads if load == 0), sum(WHOLE - load for load in loads))
    return out


def _class_variables(
    parts: Parts,
    u: int,
    cls: JobClass,
    room: dict[int, list[int]],
    free_devices: dict[int, tuple[int, int]],
) -> None:
    facts, model = parts.facts, parts.model
    j = cls.rep
    replicas = facts.p.job_replicas[j]
    total = replicas * cls.size
    current = facts.current_count[j]
    anti = any(facts.p.services[s].anti_affinity for s in facts.services_of[j])
    if current is not None and not facts.migratable(j):
        _staying_variables(parts, u, j, current)
        return
    by_group: dict[int, list[tuple[int, int]]] = {}
    scope_nodes = parts.scope.nodes
    for n in facts.eligible[j]:
        if n not in scope_nodes:
            continue
        ub = _fit(facts, j, n, room[n], free_devices.get(n), total)
        if anti:
            ub = min(ub, 1)
        if current is not None and n in current:
            # Staying must stay representable even where the room computed above is short.
            ub = max(ub, current[n])
        if ub > 0:
            by_group.setdefault(facts.p.node_group[n], []).append((n, ub))
    # A gang only goes to a group that can hold all its replicas.
    groups = {g: nodes for g, nodes in by_group.items() if sum(ub for _, ub in nodes) >= replicas}
    placed = model.new_int_var(0, cls.size if groups else 0, f"placed_{j}")
    parts.placed.append(placed)
    parts.nodes_of.append([])
    if facts.required[j] or (current is not None and not facts.preemptible(j)):
        model.add(placed == cls.size)
    if not groups:
        return
    group_counts: list[cp_model.LinearExprT] = []
    for g, nodes in sorted(groups.items()):
        xs: list[IntVar] = []
        for n, ub in nodes:
            x = model.new_int_var(0, ub, "")
            parts.x[u, n] = x
            parts.ub[u, n] = ub
            parts.nodes_of[u].append(n)
            parts.on_node.setdefault(n, []).append(u)
            xs.append(x)
        if len(groups) == 1:
            model.add(sum(xs) == replicas * placed)
        else:
            y = model.new_int_var(0, cls.size, f"gangs_{j}_{g}")
            parts.gangs[u, g] = y
            model.add(sum(xs) == replicas * y)
            group_counts.append(y)
    if group_counts:
        model.add(sum(group_counts) == placed)
    if current is not None:
        _moves(parts, u, j, current, replicas)


def _staying_variables(parts: Parts, u: int, j: int, current: dict[int, int]) -> None:
    """A running job that cannot migrate keeps its nodes, or leaves entirely if preemptible.
    Staying needs its nodes to be eligible still (the checker applies eligibility to all)."""
    facts, model = parts.facts, parts.model
    eligible = facts.eligible_set(j)
    must_stay = facts.required[j] or not facts.preemptible(j)
    stays: Value = 1 if must_stay else model.new_bool_var(f"placed_{j}")
    if not all(n in eligible for n in current):
        if must_stay:
            model.add_bool_or([])  # must stay but may not: the problem has no solution
        stays = 0
    parts.placed.append(stays)
    parts.nodes_of.append([])
    for n, c in sorted(current.items()):
        if isinstance(stays, int):
            x: Value = c * stays
        else:
            x = model.new_int_var(0, c, f"x_{j}_{n}")
            model.add(x == c * stays)
        parts.x[u, n] = x
        parts.ub[u, n] = c
        parts.nodes_of[u].append(n)
        parts.on_node.setdefault(n, []).append(u)
        parts.kept[u, n] = x
    parts.moved[u] = Lin()


def _moves(parts: Parts, u: int, j: int, current: dict[int, int], replicas: int) -> None:
    """kept = min(former count, x) on each former node; moved = placed replicas - kept."""
    model = parts.model
    moved = Lin()
    moved.add(parts.placed[u], replicas)
    for a, c in current.items():
        x = parts.x.get((u, a))
        if x is None:
            continue
        if isinstance(x, int) or parts.ub[u, a] <= c:
            kept: Value = x
        else:
            kept = model.new_int_var(0, c, f"kept_{j}_{a}")
            model.add_min_equality(kept, [x, c])
            parts.derive(kept, _kept_rule(x, c))
        parts.kept[u, a] = kept
        moved.add(kept, -1)
    parts.moved[u] = moved


def _kept_rule(x: Value, count: int) -> Callable[[Reader], int]:
    return lambda read: min(count, read(x))


def _fit(
    facts: Facts,
    j: int,
    n: int,
    room: list[int],
    devices: tuple[int, int] | None,
    most: int,
) -> int:
    """How many replicas of job j fit on node n in the room left (at most `most`)."""
    demand = facts.demand(j, n)
    fit = most
    for r, d in enumerate(demand):
        if d > 0:
            fit = min(fit, max(0, room[r]) // d)
    if devices is not None and facts.gpu >= 0:
        q = demand[facts.gpu]
        free_whole, share_room = devices
        kind = facts.gpu_kind(q)
        if kind == "whole":
            fit = min(fit, free_whole // (q // WHOLE))
        elif kind == "share":
            fit = min(fit, share_room // q)
    return fit
