"""The reassignment search's incremental state (reassign.py): where every job is, per-node
usage and service counts as numpy arrays, the cost they add up to, and the exact feasibility
of a set of moves. Reads model/problem.py through the engine's index, never the judges'
accounting (reassign.py's module docstring)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from scheduler.placement.index.demands import Demands
from scheduler.placement.model.problem import ObjectiveWeights, Problem, Solution

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# A full matrix of machine move costs up to this many nodes (25 M entries = 200 MB at 5,000).
_MOVE_MATRIX_MAX_NODES = 5_000


def movable_jobs(p: Problem, start: Solution) -> list[int]:
    """Jobs this search may move in `start` (module docstring)."""
    gpu = p.gpu_resource
    current = p.job_current or (None,) * p.num_jobs
    move = p.job_move_cost or (-1,) * p.num_jobs
    overridden = {o.job for o in p.overrides}
    scoped = {d for q in p.quotas if q.groups for d in q.member_departments()}
    department = p.job_department or (-1,) * p.num_jobs
    out = []
    for j, nodes in enumerate(start.assignment):
        if nodes is None or p.job_replicas[j] != 1 or j in overridden:
            continue
        if department[j] in scoped:
            continue
        if gpu >= 0 and p.job_demand[j][gpu] > 0:
            continue
        if current[j] is not None and move[j] < 0:
            continue
        out.append(j)
    return out


class ReassignState:
    """The incremental state: where every job is, usage, counts, and the cost it adds up to;
    the moves are Reassign's (reassign.py)."""

    def __init__(
        self, p: Problem, start: Solution, weights: ObjectiveWeights, seed: int = 0
    ) -> None:
        self.p = p
        self.start = start
        self.weights = weights
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        n_nodes, n_res, n_jobs = p.num_nodes, p.num_resources, p.num_jobs
        self.cap: Ints = np.array(p.node_capacity, dtype=np.int64).reshape(n_nodes, n_res)
        self.safety: Ints = (
            np.array(p.node_safety, dtype=np.int64).reshape(n_nodes, n_res)
            if p.node_safety
            else self.cap.copy()
        )
        self.load_w: Ints = np.array(p.load_weight or (0,) * n_res, dtype=np.int64) * weights.load
        self.transient: Bools = np.array(p.transient or (False,) * n_res, dtype=np.bool_)
        bal = [b for b in p.balances if b.weight and b.target]
        self.b_r1: Ints = np.array([b.r1 for b in bal], dtype=np.int64)
        self.b_r2: Ints = np.array([b.r2 for b in bal], dtype=np.int64)
        self.b_target: Ints = np.array([b.target for b in bal], dtype=np.int64)
        self.b_weight: Ints = np.array([b.weight for b in bal], dtype=np.int64) * weights.balance
        self.w_mig = weights.migration
        self.w_money = weights.money
        self.w_energy = weights.energy
        self.demand: Ints = np.array(p.job_demand, dtype=np.int64).reshape(n_jobs, n_res)
        self.open_cost: Ints = np.array(p.node_open_cost or (0,) * n_nodes, dtype=np.int64)
        self.prices: Ints = np.array(p.group_cost, dtype=np.int64)[np.array(p.node_group)]
        current = p.job_current or (None,) * n_jobs
        move = p.job_move_cost or (-1,) * n_jobs
        self.orig: Ints = np.array(
            [c[0] if c is not None and len(c) == 1 else -1 for c in current], dtype=np.int64
        )
        self.move_cost: Ints = np.array([max(0, m) for m in move], dtype=np.int64)
        self.mmc: Ints | None = None
        # Read once: the ROADEF loader's matrix is lazy, and len() on it is not free.
        self.has_mmc = bool(p.node_move_cost)
        if self.has_mmc and n_nodes <= _MOVE_MATRIX_MAX_NODES:
            # Row by row through the buffer protocol: rows may be tuples or memoryviews (the
            # ROADEF loader's compact matrix), and 25 M Python ints one by one take minutes.
            self.mmc = np.stack(
                [np.asarray(row, dtype=np.int64) for row in p.node_move_cost]
            ).reshape(n_nodes, n_nodes)
        self.movable = movable_jobs(p, start)
        self.is_movable: Bools = np.zeros(n_jobs, dtype=np.bool_)
        self.is_movable[self.movable] = True
        # The movable jobs biggest first (demand over each resource's mean capacity, summed):
        # late acceptance draws from a window of the biggest that grows (reassign.window).
        movable = np.array(self.movable, dtype=np.int64)
        scale = np.maximum(self.cap.mean(axis=0), 1) if n_nodes else np.ones(n_res)
        size = (self.demand[movable] / scale).sum(axis=1)
        self.by_size: Ints = movable[np.argsort(-size, kind="stable")]
        self.eligible: list[Bools] = []
        for nodes in p.node_sets:
            mask = np.zeros(n_nodes, dtype=np.bool_)
            mask[list(nodes)] = True
            self.eligible.append(mask)
        self.eligible_at: Bools = (
            np.stack(self.eligible) if self.eligible else np.zeros((0, n_nodes), dtype=np.bool_)
        )
        self.job_set: Ints = np.array(p.job_nodes, dtype=np.int64)
        self._services()
        self._load(start)

    # -- building ------------------------------------------------------------------------------

    def _services(self) -> None:
        p = self.p
        self.job_services: list[list[int]] = [[] for _ in range(p.num_jobs)]
        for s, svc in enumerate(p.services):
            for j in svc.jobs:
                self.job_services[j].append(s)
        # First anti-affinity service of each job (-1: none), for the vector score of swaps.
        self.first_anti: Ints = np.full(p.num_jobs, -1, dtype=np.int64)
        anti = [s for s, svc in enumerate(p.services) if svc.anti_affinity]
        self.anti_row = {s: i for i, s in enumerate(anti)}
        for j, svcs in enumerate(self.job_services):
            for s in svcs:
                if s in self.anti_row:
                    self.first_anti[j] = self.anti_row[s]
                    break
        self.on_node: Ints = np.zeros((len(anti), p.num_nodes), dtype=np.int64)
        # Domain ids per key, and which (service, key) counts the constraints read.
        self.domains: list[Ints] = [
            np.array([row[k] for row in p.node_domains], dtype=np.int64)
            for k in range(len(p.domain_keys))
        ]
        keys: set[tuple[int, int]] = set()
        self.deps: list[list[tuple[int, int]]] = [[] for _ in p.services]  # (t, key)
        self.rdeps: list[list[tuple[int, int]]] = [[] for _ in p.services]  # (s, key)
        for s, svc in enumerate(p.services):
            if svc.spread_key >= 0 and svc.spread_min > 0:
                keys.add((s, svc.spread_key))
            for t in svc.depends_on:
                keys.add((t, svc.affinity_key))
                keys.add((s, svc.affinity_key))
                self.deps[s].append((t, svc.affinity_key))
                self.rdeps[t].append((s, svc.affinity_key))
        # Replicas of service s per domain of key k, for the (s, k) the constraints read.
        self.in_domain: dict[tuple[int, int], Ints] = {
            (s, k): np.zeros(int(self.domains[k].max()) + 1, dtype=np.int64) for s, k in keys
        }
        self.keys_of: list[list[int]] = [[] for _ in p.services]
        for s, k in sorted(keys):
            self.keys_of[s].append(k)
        self.spread_count = [0] * len(p.services)
        self.members = [0] * len(p.services)  # placed replicas
        self.svc_moved = [0] * len(p.services)

    def _load(self, start: Solution) -> None:
        p = self.p
        n_nodes, n_res = p.num_nodes, p.num_resources
        self.used: Ints = (
            np.array(p.node_reserved, dtype=np.int64).reshape(n_nodes, n_res)
            if p.node_reserved
            else np.zeros((n_nodes, n_res), dtype=np.int64)
        )
        # chk = what the capacity rows read: used, plus transient holds on transient resources.
        self.chk: Ints = self.used.copy()
        self.count: Ints = np.zeros(n_nodes, dtype=np.int64)
        self.where: Ints = np.full(p.num_jobs, -1, dtype=np.int64)
        self.fixed_migration = 0  # migration of the frozen jobs (constant)
        self.fixed_money = 0
        current = p.job_current or (None,) * p.num_jobs
        move = p.job_move_cost or (-1,) * p.num_jobs
        demand_of = Demands(p)
        for j, nodes in enumerate(start.assignment):
            if nodes is None:
                continue
            if self.is_movable[j]:
                home = int(self.orig[j])
                if home >= 0:
                    # Its transient hold at home, wherever it is (see _arrive).
                    self.chk[home] += np.where(self.transient, self.demand[j], 0)
                self.where[j] = nodes[0]
                self._arrive(j, nodes[0])
                continue
            # Frozen: usage (overrides included), counts, and what its moves cost and hold.
            for n in nodes:
                d = np.array(demand_of.on_node(j, n), dtype=np.int64)
                self.used[n] += d
                self.chk[n] += d
                self.count[n] += 1
                self.fixed_money += demand_of.money(j, n)
                self._count_services(j, n, +1)
            if current[j] is None:
                continue
            gone, came = _moved_apart(list(current[j] or ()), list(nodes))
            for a in gone:
                d = np.array(demand_of.on_node(j, a), dtype=np.int64)
                self.chk[a] += np.where(self.transient, d, 0)
                self.fixed_migration += max(0, move[j])
                for s in self.job_services[j]:
                    self.svc_moved[s] += 1
            if p.node_move_cost:
                self.fixed_migration += sum(
                    p.node_move_cost[a][b] for a, b in zip(gone, came, strict=True)
                )
        self.node_cost: Ints = self._cost_rows(self.used, self.safety, self.cap)
        self.cost = self.total_cost()

    # -- cost ------------------------------------------------------------------------------------

    def set_load_weights(self, load_w: Ints) -> None:
        """Scores with these load weights ([R], weighted) from now on: node costs and the
        total are recomputed. The state's cost is then no longer the problem's."""
        self.load_w = load_w
        self.node_cost = self._cost_rows(self.used, self.safety, self.cap)
        self.cost = self.total_cost()

    def _cost_rows(self, used: Ints, safety: Ints, cap: Ints) -> Ints:
        """Load plus balance cost of node rows ([K][R] usage, safety, capacity -> [K])."""
        cost: Ints = (np.maximum(used - safety, 0) * self.load_w).sum(axis=-1)
        if len(self.b_weight):
            avail = cap - used
            over = self.b_target * avail[..., self.b_r1] - avail[..., self.b_r2]
            cost = cost + (np.maximum(over, 0) * self.b_weight).sum(axis=-1)
        return cost

    def _costs_at(self, nodes: Ints, used: Ints) -> Ints:
        return self._cost_rows(used, self.safety[nodes], self.cap[nodes])

    def job_migration(self, j: int, n: int) -> int:
        a = int(self.orig[j])
        if a < 0 or a == n:
            return 0
        extra = 0
        if self.has_mmc:
            extra = int(self.mmc[a, n]) if self.mmc is not None else self.p.node_move_cost[a][n]
        return int(self.move_cost[j]) + extra

    def migrations(self, jobs: Ints, nodes: Ints) -> Ints:
        """job_migration of each (jobs[i], nodes[i]), weighted, as an array."""
        home = self.orig[jobs]
        cost = self.move_cost[jobs].copy()
        if self.mmc is not None:
            cost += self.mmc[np.maximum(home, 0), nodes]
        elif self.has_mmc:
            rows = self.p.node_move_cost
            cost += np.array(
                [
                    rows[a][n] if a >= 0 else 0
                    for a, n in zip(home.tolist(), nodes.tolist(), strict=True)
                ],
                dtype=np.int64,
            )
        return np.where((home >= 0) & (home != nodes), cost, 0) * self.w_mig

    def total_cost(self) -> int:
        p = self.p
        job_mig = sum(self.job_migration(j, int(self.where[j])) for j in self.movable)
        money = self.fixed_money + sum(
            int(self.demand[j] @ self.prices[self.where[j]]) for j in self.movable
        )
        energy = int(self.open_cost[self.count > 0].sum())
        svc = p.service_move_weight * max(self.svc_moved, default=0)
        return (
            int(self.node_cost.sum())
            + self.w_mig * (self.fixed_migration + job_mig + svc)
            + self.w_money * money
            + self.w_energy * energy
        )

    # -- incremental moves -------------------------------------------------------------------------

    def _count_services(self, j: int, n: int, sign: int) -> None:
        for s in self.job_services[j]:
            self.members[s] += sign
            row = self.anti_row.get(s)
            if row is not None:
                self.on_node[row, n] += sign
            spread_key = self.p.services[s].spread_key
            for k in self.keys_of[s]:
                counts = self.in_domain[(s, k)]
                dom = self.domains[k][n]
                before = int(counts[dom])
                counts[dom] = before + sign
                if k == spread_key:
                    if before == 0 and sign > 0:
                        self.spread_count[s] += 1
                    elif before == 1 and sign < 0:
                        self.spread_count[s] -= 1

    def _moved_service(self, j: int, sign: int) -> None:
        for s in self.job_services[j]:
            self.svc_moved[s] += sign

    def _arrive(self, j: int, n: int) -> None:
        d = self.demand[j]
        self.used[n] += d
        if n == self.orig[j]:
            # Back home: its transient hold there becomes its ordinary usage again.
            self.chk[n] += np.where(self.transient, 0, d)
        else:
            self.chk[n] += d
            if self.orig[j] >= 0:
                self._moved_service(j, +1)
        self.count[n] += 1
        self._count_services(j, n, +1)

    def _leave(self, j: int, n: int) -> None:
        d = self.demand[j]
        self.used[n] -= d
        if n == self.orig[j]:
            self.chk[n] -= np.where(self.transient, 0, d)  # the transient hold stays
        else:
            self.chk[n] -= d
            if self.orig[j] >= 0:
                self._moved_service(j, -1)
        self.count[n] -= 1
        self._count_services(j, n, -1)

    def _shift(self, j: int, b: int) -> None:
        a = int(self.where[j])
        self._leave(j, a)
        self._arrive(j, b)
        self.where[j] = b

    def _feasible(
        self, rows: Ints, moves: Sequence[tuple[int, int]], before: Sequence[tuple[int, int]]
    ) -> bool:
        p = self.p
        if (self.chk[rows] > self.cap[rows]).any():
            return False
        for j, b in moves:
            if not self.eligible[p.job_nodes[j]][b]:
                return False
        for s in {s for j, _ in moves for s in self.job_services[j]}:
            svc = p.services[s]
            row = self.anti_row.get(s)
            if row is not None and (self.on_node[row, rows] > 1).any():
                return False
            if svc.spread_min > 0 and self.spread_count[s] < svc.spread_min and self.members[s]:
                return False
        for (j, b), (_, a) in zip(moves, before, strict=True):
            for s in self.job_services[j]:
                # j's new domain must hold some replica of each service s depends on ...
                for t, k in self.deps[s]:
                    if self.in_domain[(t, k)][self.domains[k][b]] == 0:
                        return False
                # ... and a domain j left must not strand a dependant of s.
                for u, k in self.rdeps[s]:
                    dom = self.domains[k][a]
                    if self.in_domain[(s, k)][dom] == 0 and self._hosts(u, k, int(dom)):
                        return False
        return True

    def _hosts(self, s: int, k: int, dom: int) -> bool:
        """Whether service s has a replica in domain `dom` of key k (tracked: see _services)."""
        return bool(self.in_domain[(s, k)][dom] > 0)

    # -- vector scores ---------------------------------------------------------------------------

    def solution(self) -> Solution:
        return self.solution_with(self.where)

    def solution_with(self, where: Ints) -> Solution:
        """The answer with the movable jobs at `where` (a copy of self.where taken earlier)."""
        assignment = list(self.start.assignment)
        for j in self.movable:
            assignment[j] = (int(where[j]),)
        return Solution(tuple(assignment), self.start.devices)


def _moved_apart(old: list[int], new: list[int]) -> tuple[list[int], list[int]]:
    """(left, arrived) beyond the multiset intersection, both ascending (model/problem.py:
    "move")."""
    rest = list(new)
    gone = []
    for n in sorted(old):
        if n in rest:
            rest.remove(n)
        else:
            gone.append(n)
    return gone, sorted(rest)
