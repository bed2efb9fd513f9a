"""One greedy pass: free capacity (node_pool.py), quotas and services as replicas are placed, and
the placement of one job by a rule's node choice (baselines.py's module docstring)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from scheduler.placement.greedy.services import Services
from scheduler.placement.index import devices
from scheduler.placement.index.demands import Demands
from scheduler.placement.index.node_pool import Accept, Layout, Need, Pool, extended
from scheduler.placement.index.quota_scope import QuotaScopes
from scheduler.placement.model.problem import Solution

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem

# kube-scheduler scores at least 100 feasible nodes (percentageOfNodesToScore); here each atom
# offers its CANDIDATES tightest ones and the search stops at KUBE_FEASIBLE, to stay fast.
KUBE_FEASIBLE = 8
CANDIDATES = 4  # fitting nodes compared per atom (tightest in the scarcest dimension first)

FIRST_FIT, BEST_FIT, MOST_ALLOCATED = "first_fit", "best_fit", "most_allocated"

Specs = Iterable[tuple[int, tuple[int, ...], Need]]  # (atom, pool demand, its non-zero entries)


class Greedy:
    """One greedy run: the pool, the answer being built, quotas and service bookkeeping."""

    def __init__(
        self, p: Problem, rule: str, layout: Layout | None = None, *, compact: bool = False
    ) -> None:
        self.p = p
        self.rule = rule
        # Best fit only: a gang's replicas on as few nodes as room allows (_compact).
        self.compact = compact and rule == BEST_FIT
        self.layout = layout if layout is not None else Layout(p)
        self.pool = Pool(
            p,
            self.layout,
            _score_weights(p, rule),
            tight=rule != FIRST_FIT,
            blocks=rule == FIRST_FIT,
        )
        self.types = p.node_type or (0,) * p.num_nodes
        self.assignment: list[tuple[int, ...] | None] = [None] * p.num_jobs
        self.device_ids: list[tuple[tuple[int, ...], ...] | None] = [None] * p.num_jobs
        self.demands = Demands(p)
        # job -> node type -> override (Demands.by_job): the jobs whose demand depends on the type.
        self.overrides = self.demands.by_job
        self.departments = p.job_department or (-1,) * p.num_jobs
        self.scopes = QuotaScopes(p)
        self.quota_used = [0] * len(p.quotas)
        self.services = Services(p)
        self.new_jobs: set[int] = set()
        self.banned: set[int] = set()  # taken back by `repair`: never placed again
        self.failed: dict[tuple[object, ...], set[int]] = {}  # capacity failures, see _memo_key
        self.cursor: dict[int, int] = {}  # kube round-robin start per node set
        # Pool demand of jobs without overrides (the same on every node type).
        self.base: dict[int, tuple[tuple[int, ...], Need]] = {}
        self.group_order: dict[tuple[int, tuple[int, ...]], list[int]] = {}
        self._types_of_group: dict[int, set[int]] | None = None

    # -- demands ---------------------------------------------------------------------------------

    def demand(self, j: int, node_type: int) -> tuple[int, ...]:
        return self.demands.on_type(j, node_type)

    def _node_demand(self, j: int, n: int) -> tuple[int, ...]:
        return self.demands.on_node(j, n)

    def pool_demand(self, j: int, node_type: int) -> tuple[tuple[int, ...], Need]:
        """(demand in pool dimensions, its non-zero entries) of one replica on that node type."""
        if j not in self.overrides:
            cached = self.base.get(j)
            if cached is not None:
                return cached
        ext = extended(self.demand(j, node_type), self.p.gpu_resource, self.pool.with_devices)
        result = ext, [(r, x) for r, x in enumerate(ext) if x]
        if j not in self.overrides:
            self.base[j] = result
        return result

    def specs(self, j: int, atoms: Iterable[int]) -> Iterator[tuple[int, tuple[int, ...], Need]]:
        """(atom, pool demand, non-zero entries) for the atoms that may host a replica of j."""
        may_host = self.pool.may_host
        if j not in self.overrides:
            ext, need = self.pool_demand(j, 0)
            for a in atoms:
                if may_host(a, need):
                    yield a, ext, need
            return
        types = self.layout.type
        for a in atoms:
            ext, need = self.pool_demand(j, types[a])
            if may_host(a, need):
                yield a, ext, need

    # -- running jobs ----------------------------------------------------------------------------

    def keep_running(self) -> None:
        p = self.p
        if not p.job_current:
            return
        gpu = p.gpu_resource

        def packing_order(j: int) -> tuple[bool, int]:
            q = p.job_demand[j][gpu] if gpu >= 0 else 0
            return (not devices.is_whole(q), -q)

        running = [j for j, cur in enumerate(p.job_current) if cur is not None]
        for j in sorted(running, key=packing_order):
            nodes = p.job_current[j]
            assert nodes is not None
            ids = [self.pool.take(n, self.pool_demand(j, self.types[n])[0]) for n in nodes]
            self._commit(j, tuple(nodes), ids)

    def _commit(self, j: int, nodes: tuple[int, ...], ids: Sequence[tuple[int, ...]]) -> None:
        self.assignment[j] = nodes
        if any(ids):
            self.device_ids[j] = tuple(ids)
        if self.quota_used:
            self.scopes.add(self.quota_used, j, nodes, self._node_demand)
        self.services.record(j, nodes, 1)

    def _remove(self, j: int) -> None:
        nodes = self.assignment[j]
        assert nodes is not None
        ids = self.device_ids[j] or ((),) * len(nodes)
        for n, dev in zip(nodes, ids, strict=True):
            self.pool.release(n, self.pool_demand(j, self.types[n])[0], dev)
        if self.quota_used:
            self.scopes.add(self.quota_used, j, nodes, self._node_demand, -1)
        self.services.record(j, nodes, -1)
        self.assignment[j] = None
        self.device_ids[j] = None
        self.new_jobs.discard(j)

    # -- placing one job -------------------------------------------------------------------------

    def place(self, j: int) -> bool:
        """Places job j if the rule finds room for its whole gang in one group."""
        p = self.p
        if self.assignment[j] is not None or j in self.banned or not p.node_sets[p.job_nodes[j]]:
            return False
        if not self._quota_possible(j):
            return False
        groups = self.layout.by_set[p.job_nodes[j]]
        if self.rule == MOST_ALLOCATED:
            return self._place_kube(j, groups)
        order: Iterable[int] = groups
        if self.rule == BEST_FIT:
            order = self._cheapest_groups(j, list(groups))
        memo = self._memo_key(j)
        failed = self.failed.setdefault(memo, set()) if memo is not None else set()
        for g in order:
            if g in failed:
                continue
            outcome = self._try_group(j, groups[g], fixed_first=None)
            if outcome is True:
                return True
            if outcome is None and memo is not None:
                failed.add(g)
        return False

    def _memo_key(self, j: int) -> tuple[object, ...] | None:
        """Jobs of one shape fail in the same groups: capacity only shrinks during a run, and
        whether identical replicas fit is decided exactly (each takes any node with room). Only
        for jobs whose placement nothing else constrains (services, overrides)."""
        if j in self.overrides or self.services.constrained(j):
            return None
        p = self.p
        return (p.job_nodes[j], p.job_demand[j], p.job_replicas[j])

    def _quota_possible(self, j: int) -> bool:
        """False if a quota covering the job in every group has no room for it (a cheap test
        before the search; scoped quotas are checked where the replicas land)."""
        dept = self.departments[j]
        if dept not in self.scopes.departments or j in self.overrides:
            return True
        reps, demand = self.p.job_replicas[j], self.p.job_demand[j]
        quotas, limit, used = self.p.quotas, self.scopes.limit, self.quota_used
        return all(
            quotas[q].groups or used[q] + reps * demand[quotas[q].resource] <= limit[q]
            for q in self.scopes.of_department[dept]
        )

    def _cheapest_groups(self, j: int, groups: list[int]) -> list[int]:
        if len(groups) == 1:
            return groups
        demand, prices = self.p.job_demand[j], self.p.group_cost
        by_type = self.overrides.get(j)
        if by_type is not None and any(o.cost is not None for o in by_type.values()):
            # An override's cost replaces the group price on its node type (e.g. the builder's
            # 信创 preference): order by the cheapest a replica can be in each group.
            base = {g: sum(d * c for d, c in zip(demand, prices[g], strict=True)) for g in groups}
            kinds = self._group_types()

            def cheapest(g: int) -> int:
                return min(
                    o.cost if (o := by_type.get(t)) is not None and o.cost is not None else base[g]
                    for t in kinds[g]
                )

            return sorted(groups, key=lambda g: (cheapest(g), g))
        # Jobs repeat shapes: the order is computed once per (node set, demand).
        key = (self.p.job_nodes[j], demand)
        order = self.group_order.get(key)
        if order is None:
            cost = {g: sum(d * c for d, c in zip(demand, prices[g], strict=True)) for g in groups}
            order = self.group_order[key] = sorted(groups, key=lambda g: (cost[g], g))
        return order

    def _group_types(self) -> dict[int, set[int]]:
        """Node types present in each group (computed once)."""
        if self._types_of_group is None:
            self._types_of_group = {}
            for n, g in enumerate(self.p.node_group):
                self._types_of_group.setdefault(g, set()).add(self.types[n])
        return self._types_of_group

    def _try_group(self, j: int, atoms: list[int], fixed_first: int | None) -> bool | None:
        """True if placed; None if the gang does not fit in these atoms; False for any other
        reason (quota). Leaves no trace unless it places the job."""
        p = self.p
        reps = p.job_replicas[j]
        if reps == 1 and fixed_first is not None:
            # kube's single replica: its node is chosen, only the quota is left to check.
            return self._take_all(
                j, [fixed_first], [self.pool_demand(j, self.types[fixed_first])[0]]
            )
        if reps == 1:
            specs = list(self.specs(j, atoms))
            n = self._choose(j, specs, ()) if specs else None
            if n is None:
                return None
            return self._take_all(j, [n], [self.pool_demand(j, self.types[n])[0]])
        if j not in self.overrides:
            # The gang's total must be there (one replica's is, if some node fits it).
            demand = p.job_demand[j]
            totals = self.pool.total
            for r, d in enumerate(demand):
                if d and sum(totals[a][r] for a in atoms) < reps * d:
                    return None
        specs = list(self.specs(j, atoms))
        if not specs:
            return None
        demand_of = {a: ext for a, ext, _ in specs}
        self.pool.begin()
        nodes: list[int] = []
        ids: list[tuple[int, ...]] = []
        gpu = p.gpu_resource
        if (
            self.compact
            and fixed_first is None
            and gpu >= 0
            and p.job_demand[j][gpu] > 0
            and not self.services.constrained(j)
        ):
            nodes, ids = self._compact(specs, demand_of, reps)
        for i in range(len(nodes), reps):
            if i == 0 and fixed_first is not None:
                n = fixed_first
            else:
                found = self._choose(j, specs, nodes)
                if found is None:
                    self.pool.rollback()
                    return None
                n = found
            ids.append(self.pool.take(n, demand_of[self.pool.atom_of[n]]))
            nodes.append(n)
        if not self._quota_fits(j, nodes):
            self.pool.rollback()
            return False
        self.pool.commit()
        self._commit(j, tuple(nodes), ids)
        self.new_jobs.add(j)
        return True

    def _compact(
        self,
        specs: list[tuple[int, tuple[int, ...], Need]],
        demand_of: dict[int, tuple[int, ...]],
        reps: int,
    ) -> tuple[list[int], list[tuple[int, ...]]]:
        """Takes room for the first replicas of a GPU gang, several to a node: on the tightest
        node that holds all `left` replicas still to place, else half of them, and so on down
        to two (Slurm gives a job the fewest nodes it fits on). Keeps whole GPU nodes free for
        the gangs that need a node each: a 2 x 4-GPU gang on one 8-GPU node, not one replica
        on each of two (benchmarks/README.md, city simulator, seed 8). Only GPU gangs: CPU
        gangs placed this way took whole nodes where best fit fills the holes others leave,
        and over ten city traces the guarantee fell (99.51 -> 99.23%) where the GPU-only rule
        kept it on every trace. Replicas no block holds are left to the per-replica choice;
        the greedy's outcome stays: identical replicas fit on as many nodes whichever order
        they take them in. Fractional GPU shares are left alone (k of them need not share one
        device). Returns the nodes and device ids taken."""
        nodes: list[int] = []
        ids: list[tuple[int, ...]] = []
        share_dim = self.pool.width + 1
        if any(r == share_dim for _, _, need in specs for r, _ in need):
            return nodes, ids
        left = reps
        while left >= 2:
            k, n = left, None
            while k >= 2:
                block = [(a, ext, [(r, x * k) for r, x in need]) for a, ext, need in specs]
                n = self._pick(block, None)
                if n is not None:
                    break
                k //= 2
            if n is None:
                break
            for _ in range(k):
                ids.append(self.pool.take(n, demand_of[self.pool.atom_of[n]]))
                nodes.append(n)
            left -= k
        return nodes, ids

    def _take_all(self, j: int, nodes: list[int], demands: list[tuple[int, ...]]) -> bool:
        """Places j's replicas on the nodes found for them unless the quota forbids it."""
        if not self._quota_fits(j, nodes):
            return False
        ids = [self.pool.take(n, d) for n, d in zip(nodes, demands, strict=True)]
        self._commit(j, tuple(nodes), ids)
        self.new_jobs.add(j)
        return True

    def _quota_fits(self, j: int, nodes: Sequence[int]) -> bool:
        if not self.quota_used:
            return True
        return self.scopes.fits(self.quota_used, j, nodes, self._node_demand)

    def _choose(self, j: int, specs: Specs, chosen: Sequence[int]) -> int | None:
        """The rule's node for the next replica of j, or None if none fits."""
        accept, prefer = self.services.conditions(j, chosen)
        if prefer is not None:
            specs = list(specs)  # walked twice
            n = self._pick(specs, prefer)
            if n is not None:
                return n
        return self._pick(specs, accept)

    def _pick(self, specs: Specs, accept: Accept) -> int | None:
        pool = self.pool
        if self.rule == FIRST_FIT:
            firsts = [pool.first(a, need, accept) for a, _, need in specs]
            return min((n for n in firsts if n is not None), default=None)
        best: tuple[float, int] | None = None
        found = 0
        for a, _, need in specs:
            hit = pool.tightest(a, need, CANDIDATES, accept)
            if hit is None:
                continue
            score, n, count = hit
            if best is None or (score, n) < best:
                best = (score, n)
            found += count
            if self.rule == MOST_ALLOCATED and found >= KUBE_FEASIBLE:
                break
        return None if best is None else best[1]

    def _place_kube(self, j: int, groups: dict[int, list[int]]) -> bool:
        """kube-scheduler: the first replica's node, over the whole node set, fixes the group."""
        p = self.p
        every = self.layout.atoms[p.job_nodes[j]]
        memo = self._memo_key(j)
        if memo is not None and memo in self.failed:
            return False  # no node had room for this shape, and room only shrinks
        start = self.cursor.get(p.job_nodes[j], 0) % len(every)
        self.cursor[p.job_nodes[j]] = start + 1
        # Atoms are walked lazily: the search stops after KUBE_FEASIBLE feasible nodes.
        first = self._choose(j, self.specs(j, every[start:] + every[:start]), ())
        if first is None:
            if memo is not None:
                self.failed[memo] = set()
            return False
        group = p.node_group[first]
        return self._try_group(j, groups[group], fixed_first=first) is True

    # -- services --------------------------------------------------------------------------------

    def repair(self) -> bool:
        """Takes back this run's jobs of services left short of spread or dependencies; they
        are not placed again. True if anything was taken back (capacity was freed)."""
        removed = False
        while True:
            culprits = self.services.violations(self.assignment) & self.new_jobs
            if not culprits:
                return removed
            removed = True
            for j in sorted(culprits):
                self._remove(j)
                self.banned.add(j)
            # Freed capacity makes recorded failures stale.
            self.failed.clear()

    def finish(self, order: Sequence[int]) -> Solution:
        """After the main pass: dependents placed before what they depend on get a second try,
        then repairs and refills alternate until no service is short, so that every job left
        out outside services really did not fit."""
        for j in order:
            if self.services.dependent(j) and self.assignment[j] is None:
                self.place(j)
        while self.repair():
            for j in order:
                self.place(j)
        return self.solution()

    def solution(self) -> Solution:
        devices_given = any(ids is not None for ids in self.device_ids)
        return Solution(
            assignment=tuple(self.assignment),
            devices=tuple(self.device_ids) if devices_given else (),
        )


def _score_weights(p: Problem, rule: str) -> list[Sequence[float]]:
    """Per node, the weight of each resource's free amount in the rule's score."""
    if rule == MOST_ALLOCATED:
        # MostAllocated: allocated fraction of the node's own capacity, resources weighed equally.
        return [tuple(1.0 / c if c else 0.0 for c in caps) for caps in p.node_capacity]
    norms = [max(column) for column in zip(*p.node_capacity, strict=True)]
    shared = tuple(1.0 / c if c else 0.0 for c in norms)
    return [shared] * p.num_nodes
