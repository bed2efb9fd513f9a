"""What the CP-SAT model reads: normalised problem facts, job classes, and the decided scope.

`Facts` turns the optional, compact fields of a `Problem` into direct lookups once per problem;
every LNS sub-model reuses it. A `Scope` says which jobs and nodes one model decides; every
other job stays where the incumbent put it and enters the model only as constants (`Fixed`).
The exact model is the scope of everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from scheduler.placement.model import Problem, Solution
from scheduler.placement.quota_scope import QuotaScopes

WHOLE = 1000  # thousandths of a GPU device


class Facts:
    """Direct lookups of one problem's data, defaults filled in."""

    @cached_property
    def sets_of_node(self) -> tuple[tuple[int, ...], ...]:
        """The node sets (indices into p.node_sets) each node belongs to, ascending."""
        out: list[list[int]] = [[] for _ in range(self.p.num_nodes)]
        for s, nodes in enumerate(self.p.node_sets):
            for n in nodes:
                out[n].append(s)
        return tuple(map(tuple, out))

    def __init__(self, p: Problem) -> None:
        self.p = p
        nr, nn, nj = p.num_resources, p.num_nodes, p.num_jobs
        zeros = (0,) * nr
        self.reserved = p.node_reserved or (zeros,) * nn
        self.node_type = p.node_type or (0,) * nn
        self.devices = p.node_devices or (0,) * nn
        self.gpu = p.gpu_resource
        self.open_cost = p.node_open_cost or (0,) * nn
        self.safety = p.node_safety or p.node_capacity
        self.load_weight = p.load_weight or zeros
        self.transient = p.transient or (False,) * nr
        self.required = p.job_required or (False,) * nj
        self.current = p.job_current or (None,) * nj
        self.move_cost = p.job_move_cost or (-1,) * nj
        self.preempt_cost = p.job_preempt_cost or (-1,) * nj
        self.department = p.job_department or (-1,) * nj
        self.eligible = tuple(p.node_sets[s] for s in p.job_nodes)
        self.domains = p.node_domains
        self.override_demand: dict[tuple[int, int], tuple[int, ...]] = {}
        self.override_cost: dict[tuple[int, int], int] = {}
        for o in p.overrides:
            if o.demand is not None:
                self.override_demand[o.job, o.node_type] = o.demand
            if o.cost is not None:
                self.override_cost[o.job, o.node_type] = o.cost
        self.overridden = frozenset(o.job for o in p.overrides)
        self.scopes = QuotaScopes(p)
        self.services_of: tuple[tuple[int, ...], ...] = _services_of(p)
        # Replica counts per node of each running job (replicas are interchangeable).
        self.current_count: tuple[dict[int, int] | None, ...] = tuple(
            None if nodes is None else _counts(nodes) for nodes in self.current
        )
        self.group_nodes: tuple[tuple[int, ...], ...] = _group_nodes(p)
        self._money: dict[tuple[int, int, int], int] = {}
        self._eligible_sets: dict[int, frozenset[int]] = {}
        # Quotas whose running jobs use more than nominal now: their borrowers may be reclaimed.
        self.running_quota_usage = self.scopes.running_usage(self.current, self.demand)
        self.above_nominal = self.scopes.above_nominal(self.running_quota_usage)
        # Reclaim stops at a borrower's nominal (model.py): per quota above it, the running
        # work one decision may evict.
        self.reclaim_budget = self.scopes.reclaim_budgets(
            self.current, self.demand, self.running_quota_usage, self.preempt_cost
        )

    @cached_property
    def override_types(self) -> dict[int, tuple[int, ...]]:
        """The node types each overridden job has an override for, ascending. Built once:
        scanning every override per job cost jobs x overrides (11 s of a 10-s solve on a GAP
        instance of 80 agents x 1,600 jobs, every pair overridden)."""
        types: dict[int, set[int]] = {}
        for j, t in (*self.override_demand, *self.override_cost):
            types.setdefault(j, set()).add(t)
        return {j: tuple(sorted(ts)) for j, ts in types.items()}

    def eligible_set(self, j: int) -> frozenset[int]:
        s = self.p.job_nodes[j]
        found = self._eligible_sets.get(s)
        if found is None:
            found = self._eligible_sets[s] = frozenset(self.p.node_sets[s])
        return found

    def reclaims(self, j: int) -> tuple[int, ...]:
        """The quotas above nominal before this decision that cover running job j on its
        current nodes (the reclaim rule): evicting j is justified by a job placed on its
        former nodes from outside their members, or by nothing when one of them holds more
        than its limit (QuotaScopes.justifies, forced)."""
        current = self.current[j]
        if current is None or not self.above_nominal:
            return ()
        return self.scopes.reclaim_quotas(j, current, self.above_nominal, self.demand)

    def reclaim_charges(self, j: int) -> dict[int, int]:
        """Quota -> what running job j counts against each quota with a reclaim budget."""
        current = self.current[j]
        if current is None or not self.reclaim_budget:
            return {}
        charges = self.scopes.running_charges(j, current, self.demand)
        return {q: a for q, a in charges.items() if q in self.reclaim_budget}

    def forced(self, j: int) -> bool:
        """Whether running job j must make room for a quota lowered below its use."""
        return self.scopes.forced(self.running_quota_usage, self.reclaims(j))

    def arrived(self, j: int, nodes: tuple[int, ...] | None, n: int) -> bool:
        """Whether placement `nodes` of job j puts more replicas on n than j had there."""
        if nodes is None:
            return False
        before = (self.current_count[j] or {}).get(n, 0)
        return sum(1 for m in nodes if m == n) > before

    def demand(self, j: int, n: int) -> tuple[int, ...]:
        """Per-replica demand of job j on node n (a per-node-type override wins)."""
        if j in self.overridden:
            return self.override_demand.get((j, self.node_type[n]), self.p.job_demand[j])
        return self.p.job_demand[j]

    def replica_cost(self, j: int, n: int) -> int:
        """Money term of one replica of job j on node n."""
        t = self.node_type[n]
        if j in self.overridden:
            fixed = self.override_cost.get((j, t))
            if fixed is not None:
                return fixed
        g = self.p.node_group[n]
        key = (j, t, g)
        cost = self._money.get(key)
        if cost is None:
            prices = self.p.group_cost[g]
            cost = sum(d * c for d, c in zip(self.demand(j, n), prices, strict=True))
            self._money[key] = cost
        return cost

    def running(self, j: int) -> bool:
        return self.current[j] is not None

    def migratable(self, j: int) -> bool:
        return self.move_cost[j] >= 0

    def preemptible(self, j: int) -> bool:
        return self.preempt_cost[j] >= 0

    def node_move_cost(self, a: int, b: int) -> int:
        m = self.p.node_move_cost
        return m[a][b] if m else 0

    def transient_extra(self, j: int, nodes: Iterable[int]) -> dict[int, list[int]]:
        """Usage a running job still holds on the nodes its moved replicas left: its demand on
        transient resources, once per replica that left."""
        cur = self.current_count[j]
        if cur is None or not any(self.transient):
            return {}
        new = _counts(nodes)
        out: dict[int, list[int]] = {}
        for a, c in cur.items():
            gone = c - min(c, new.get(a, 0))
            if gone > 0:
                demand = self.demand(j, a)
                out[a] = [gone * d if t else 0 for d, t in zip(demand, self.transient, strict=True)]
        return out

    def gpu_kind(self, q: int) -> str:
        """How a replica demanding q thousandths uses devices: none, whole or share."""
        if q <= 0:
            return "none"
        return "whole" if q % WHOLE == 0 else "share"

    def moved_replicas(self, j: int, nodes: Iterable[int]) -> int:
        """Replicas of running job j not on one of its former nodes (best matching)."""
        cur = self.current_count[j]
        if cur is None:
            return 0
        new = _counts(nodes)
        kept = sum(min(c, new.get(n, 0)) for n, c in cur.items())
        return self.p.job_replicas[j] - kept


@dataclass(frozen=True)
class Scope:
    """The jobs and nodes one model decides; all else stays at `incumbent`.

    A job may be in `jobs` only if its incumbent and former nodes all lie in `nodes`, so every
    node whose usage a decided job can change is itself decided. `incumbent` must place every
    job outside `jobs` feasibly (it may be None when `jobs` is every job).
    """

    jobs: frozenset[int]
    nodes: frozenset[int]
    incumbent: Solution | None = None

    @staticmethod
    def everything(p: Problem, incumbent: Solution | None = None) -> Scope:
        return Scope(frozenset(range(p.num_jobs)), frozenset(range(p.num_nodes)), incumbent)


@dataclass(frozen=True)
class JobClass:
    """Interchangeable jobs decided together: one count variable per node for all of them."""

    jobs: tuple[int, ...]  # oldest first: a partial placement takes the oldest members

    @property
    def rep(self) -> int:
        return self.jobs[0]

    @property
    def size(self) -> int:
        return len(self.jobs)


def job_classes(facts: Facts, jobs: Iterable[int]) -> list[JobClass]:
    """Groups queued jobs that no constraint or cost can tell apart; others stay alone.

    Running jobs (own former nodes) and service members (relations name single jobs) are never
    grouped. Everything the model reads about a job is in the key, so a class is exact.
    """
    p = facts.p
    grouped: dict[tuple[object, ...], list[int]] = {}
    alone: list[JobClass] = []
    for j in sorted(jobs):
        if facts.running(j) or facts.services_of[j]:
            alone.append(JobClass((j,)))
            continue
        overrides: tuple[object, ...] = ()
        if j in facts.overridden:
            overrides = tuple(
                (t, facts.override_demand.get((j, t)), facts.override_cost.get((j, t)))
                for t in facts.override_types.get(j, ())
            )
        key = (
            p.job_demand[j],
            p.job_replicas[j],
            p.job_priority[j],
            p.job_nodes[j],
            facts.department[j],
            facts.scopes.may_preempt[j],
            facts.scopes.rank[j],
            facts.scopes.may_reclaim[j],
            facts.required[j],
            overrides,
        )
        grouped.setdefault(key, []).append(j)
    classes = [JobClass(tuple(sorted(m, key=lambda j: p.job_order[j]))) for m in grouped.values()]
    return sorted(alone + classes, key=lambda c: c.rep)


@dataclass
class Fixed:
    """Constants that the jobs outside the scope contribute to the decided part."""

    usage: dict[int, list[int]] = field(default_factory=dict)  # scope node -> final usage
    transient: dict[int, list[int]] = field(default_factory=dict)  # scope node -> extra usage
    replicas: dict[int, int] = field(default_factory=dict)  # scope node -> replica count
    device_load: dict[tuple[int, int], int] = field(default_factory=dict)  # (node, device)
    whole_devices: set[tuple[int, int]] = field(default_factory=set)  # taken whole
    quota_usage: list[int] = field(default_factory=list)  # per quota (model.py, Quotas)
    on_node: dict[int, list[int]] = field(default_factory=dict)  # scope node -> fixed jobs
    evicted: list[int] = field(default_factory=list)  # fixed running jobs left out
    service_moves: dict[int, int] = field(default_factory=dict)  # service -> fixed moves


class Incumbent:
    """Per-node and per-department totals of one solution, so that the constants of any scope
    cost time in the scope's size, not the problem's (LNS builds hundreds of scopes)."""

    def __init__(self, facts: Facts, solution: Solution) -> None:
        p = facts.p
        self.facts = facts
        self.solution = solution
        nr = p.num_resources
        self.usage: dict[int, list[int]] = {}
        self.transient: dict[int, list[int]] = {}
        self.replicas: dict[int, int] = {}
        self.device_load: dict[tuple[int, int], int] = {}
        self.whole_devices: set[tuple[int, int]] = set()
        self.quota_usage = [0] * len(p.quotas)
        self.on_node: dict[int, list[int]] = {}
        self.evicted: list[int] = []
        self.moved = [0] * p.num_jobs
        for j, nodes in enumerate(solution.assignment):
            if nodes is not None:
                self.moved[j] = facts.moved_replicas(j, nodes)
        self.service_moves = {
            s: sum(self.moved[j] for j in service.jobs) for s, service in enumerate(p.services)
        }
        for j, nodes in enumerate(solution.assignment):
            if nodes is None:
                if facts.running(j):
                    self.evicted.append(j)
                continue
            devs = solution.devices[j] if solution.devices else None
            if p.quotas:
                facts.scopes.add(self.quota_usage, j, nodes, facts.demand)
            for i, n in enumerate(nodes):
                demand = facts.demand(j, n)
                _add(self.usage.setdefault(n, [0] * nr), demand, 1)
                self.replicas[n] = self.replicas.get(n, 0) + 1
                jobs = self.on_node.setdefault(n, [])
                if not jobs or jobs[-1] != j:
                    jobs.append(j)
                if devs is not None and facts.gpu >= 0 and facts.devices[n] > 0:
                    q = demand[facts.gpu]
                    whole = facts.gpu_kind(q) == "whole"
                    for k in devs[i]:
                        load = self.device_load.get((n, k), 0)
                        self.device_load[n, k] = load + (WHOLE if whole else q)
                        if whole:
                            self.whole_devices.add((n, k))
            for a, extra in facts.transient_extra(j, nodes).items():
                _add(self.transient.setdefault(a, [0] * nr), extra, 1)

    def fixed(self, scope: Scope) -> Fixed:
        """The constants of `scope`: these totals minus what the decided jobs contribute."""
        facts = self.facts
        out = Fixed(evicted=[j for j in self.evicted if j not in scope.jobs])
        for n in scope.nodes:
            if n in self.usage:
                out.usage[n] = list(self.usage[n])
                out.replicas[n] = self.replicas[n]
                out.on_node[n] = [j for j in self.on_node[n] if j not in scope.jobs]
            if n in self.transient:
                out.transient[n] = list(self.transient[n])
        out.quota_usage = list(self.quota_usage)
        out.service_moves = dict(self.service_moves)
        for j in scope.jobs:
            for s in facts.services_of[j]:
                out.service_moves[s] -= self.moved[j]
        for (n, k), load in self.device_load.items():
            if n in scope.nodes:
                out.device_load[n, k] = load
                if (n, k) in self.whole_devices:
                    out.whole_devices.add((n, k))
        sol = self.solution
        for j in scope.jobs:
            nodes = sol.assignment[j]
            if nodes is None:
                continue
            devs = sol.devices[j] if sol.devices else None
            if out.quota_usage:
                facts.scopes.add(out.quota_usage, j, nodes, facts.demand, -1)
            for i, n in enumerate(nodes):
                demand = facts.demand(j, n)
                _add(out.usage[n], demand, -1)
                out.replicas[n] -= 1
                if devs is not None and facts.gpu >= 0 and facts.devices[n] > 0:
                    q = demand[facts.gpu]
                    whole = facts.gpu_kind(q) == "whole"
                    for k in devs[i]:
                        out.device_load[n, k] -= WHOLE if whole else q
                        out.whole_devices.discard((n, k))
            for a, extra in facts.transient_extra(j, nodes).items():
                _add(out.transient[a], extra, -1)
        return out


def _add(row: list[int], values: tuple[int, ...] | list[int], sign: int) -> None:
    for r, v in enumerate(values):
        row[r] += sign * v


def _counts(nodes: Iterable[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for n in nodes:
        out[n] = out.get(n, 0) + 1
    return out


def _services_of(p: Problem) -> tuple[tuple[int, ...], ...]:
    out: list[list[int]] = [[] for _ in range(p.num_jobs)]
    for s, service in enumerate(p.services):
        for j in service.jobs:
            out[j].append(s)
    return tuple(tuple(s) for s in out)


def _group_nodes(p: Problem) -> tuple[tuple[int, ...], ...]:
    out: list[list[int]] = [[] for _ in range(p.num_groups)]
    for n, g in enumerate(p.node_group):
        out[g].append(n)
    return tuple(tuple(nodes) for nodes in out)
