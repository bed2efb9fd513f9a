"""Normalised problem facts: the direct lookups every stage reads (`Facts`).

`Facts` turns the optional, compact fields of a `Problem` into direct lookups once per problem;
the greedy starts, the CP-SAT model and every LNS sub-model, and the explanations reuse it.
Demands and money with overrides are demands.py's, as everywhere in the engine.
The scope a CP-SAT model decides is cpsat/scope.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

from scheduler.placement.index.demands import Demands
from scheduler.placement.index.quota_scope import QuotaScopes
from scheduler.placement.model.problem import Problem

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
        self.demands = Demands(p)
        self.overridden = self.demands.overridden
        self.scopes = QuotaScopes(p)
        self.services_of: tuple[tuple[int, ...], ...] = _services_of(p)
        # Replica counts per node of each running job (replicas are interchangeable).
        self.current_count: tuple[dict[int, int] | None, ...] = tuple(
            None if nodes is None else _counts(nodes) for nodes in self.current
        )
        self.group_nodes: tuple[tuple[int, ...], ...] = _group_nodes(p)
        self._eligible_sets: dict[int, frozenset[int]] = {}
        # Quotas whose running jobs use more than nominal now: their borrowers may be reclaimed.
        self.running_quota_usage = self.scopes.running_usage(self.current, self.demand)
        self.above_nominal = self.scopes.above_nominal(self.running_quota_usage)
        # Reclaim stops at a borrower's nominal (model/problem.py): per quota above it, the running
        # work one decision may evict.
        self.reclaim_budget = self.scopes.reclaim_budgets(
            self.current, self.demand, self.running_quota_usage, self.preempt_cost
        )

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
            return self.demands.on_node(j, n)
        return self.p.job_demand[j]

    def replica_cost(self, j: int, n: int) -> int:
        """Money term of one replica of job j on node n."""
        return self.demands.money(j, n)

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
