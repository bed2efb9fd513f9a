"""Greedy baselines for engine v2: yardsticks for benchmarks, warm starts and fallbacks.

Four classic rules, each producing a `Solution` (device ids included) that respects every
constraint of model.py, in pure Python (no OR-Tools) and fast at city scale (node_pool.py):

- first_fit_decreasing: largest work first (job_work: priority x replicas x size); each job in
  the first group, in node order, that holds the gang; each replica on the lowest-numbered node
  that fits (classic FFD bin packing).
- best_fit: higher priority first, then older; groups cheapest first for the job's demand; each
  replica on the tightest node: least capacity left after placement, summed over resources each
  weighed by the largest capacity any node has of it, compared among the CANDIDATES nodes of
  each atom that are tightest in the job's scarcest resource (node_pool.py).
- drf_ordered: dominant resource fairness across departments: repeatedly the department with the
  smallest dominant share (largest share of any resource of the pool its placed jobs use) gets
  its next job (priority, then age), placed as in best_fit. Jobs without a department form one.
- kubernetes_like: FIFO by job_order, one job at a time with no lookahead, like kube-scheduler
  with the MostAllocated scoring strategy: each replica to the feasible node with the highest
  allocated fraction after placement (capacity-normalised per node), and like kube-scheduler it
  stops looking after KUBE_FEASIBLE feasible nodes (percentageOfNodesToScore), scanning the node
  set round-robin from where the previous job stopped. The first replica fixes the cluster; if the
  gang does not fit there, the job waits (coscheduling), there is no second try elsewhere.

Common to all: running jobs stay where they are (no move, no preemption), assuming the current
placement is feasible; required jobs go first (in the rule's own order); a gang goes to one group
or waits; quotas, anti-affinity and dependencies are respected when each replica is placed; a
spread service prefers new domains while short of spread_min, and services that end a pass
short of their spread or dependencies lose the jobs placed this time (repeated to a fixpoint).
Running jobs' GPU device ids are not in the problem, so they are packed first (whole devices,
then shares, largest first).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from scheduler.placement.index import devices
from scheduler.placement.index.node_pool import Accept, Layout, Need, Pool, extended
from scheduler.placement.index.quota_scope import QuotaScopes
from scheduler.placement.judges.evaluator import Evaluation, Evaluator
from scheduler.placement.judges.scale import DEFAULT_WEIGHTS, job_work
from scheduler.placement.model.problem import ObjectiveWeights, Override, Solution

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem

# kube-scheduler scores at least 100 feasible nodes (percentageOfNodesToScore); here each atom
# offers its CANDIDATES tightest ones and the search stops at KUBE_FEASIBLE, to stay fast.
KUBE_FEASIBLE = 8
CANDIDATES = 4  # fitting nodes compared per atom (tightest in the scarcest dimension first)

FIRST_FIT, BEST_FIT, MOST_ALLOCATED = "first_fit", "best_fit", "most_allocated"

Specs = Iterable[tuple[int, tuple[int, ...], Need]]  # (atom, pool demand, its non-zero entries)


class _Greedy:
    """One greedy run: the pool, the answer being built, quotas and service bookkeeping."""

    def __init__(self, p: Problem, rule: str, layout: Layout | None = None) -> None:
        self.p = p
        self.rule = rule
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
        self.overrides: dict[int, dict[int, Override]] = {}
        for o in p.overrides:
            self.overrides.setdefault(o.job, {})[o.node_type] = o
        self.departments = p.job_department or (-1,) * p.num_jobs
        self.scopes = QuotaScopes(p)
        self.quota_used = [0] * len(p.quotas)
        self.services = _Services(p)
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
        by_type = self.overrides.get(j)
        if by_type is not None:
            o = by_type.get(node_type)
            if o is not None and o.demand is not None:
                return o.demand
        return self.p.job_demand[j]

    def _node_demand(self, j: int, n: int) -> tuple[int, ...]:
        return self.demand(j, self.types[n])

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
        for i in range(reps):
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


class _Services:
    """Placed replicas per service: nodes (anti-affinity) and domains (spread, dependencies)."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.of_job: dict[int, list[int]] = {}
        for s, svc in enumerate(p.services):
            for j in svc.jobs:
                self.of_job.setdefault(j, []).append(s)
        self.nodes: list[Counter[int]] = [Counter() for _ in p.services]
        self.domains: list[dict[int, Counter[int]]] = [{} for _ in p.services]
        for s, svc in enumerate(p.services):
            if svc.spread_key >= 0:
                self.domains[s][svc.spread_key] = Counter()
            for t in svc.depends_on:
                self.domains[t].setdefault(svc.affinity_key, Counter())

    def constrained(self, j: int) -> bool:
        return j in self.of_job

    def dependent(self, j: int) -> bool:
        return any(self.p.services[s].depends_on for s in self.of_job.get(j, ()))

    def record(self, j: int, nodes: Sequence[int], sign: int) -> None:
        for s in self.of_job.get(j, ()):
            for n in nodes:
                self.nodes[s][n] += sign
                for key, counts in self.domains[s].items():
                    counts[self.p.node_domains[n][key]] += sign

    def conditions(self, j: int, chosen: Sequence[int]) -> tuple[Accept, Accept]:
        """(must hold, preferred) for the node of j's next replica; None when unconstrained."""
        services = self.of_job.get(j)
        if not services:
            return None, None
        p = self.p
        anti = [self.nodes[s] for s in services if p.services[s].anti_affinity]
        taken = set(chosen) if anti else set()
        needs = [
            (
                p.services[s].affinity_key,
                [self.domains[t][p.services[s].affinity_key] for t in p.services[s].depends_on],
            )
            for s in services
            if p.services[s].depends_on
        ]
        domains = p.node_domains

        def accept(n: int) -> bool:
            if anti and (n in taken or any(nodes[n] > 0 for nodes in anti)):
                return False
            return all(counts[domains[n][key]] > 0 for key, deps in needs for counts in deps)

        short = []
        for s in services:
            svc = p.services[s]
            if svc.spread_key < 0:
                continue
            covered = {d for d, c in self.domains[s][svc.spread_key].items() if c > 0}
            covered.update(domains[n][svc.spread_key] for n in chosen)
            if len(covered) < svc.spread_min:
                short.append((svc.spread_key, covered))
        if not short:
            return accept, None

        def prefer(n: int) -> bool:
            return all(domains[n][key] not in covered for key, covered in short) and accept(n)

        return accept, prefer

    def violations(self, assignment: Sequence[tuple[int, ...] | None]) -> set[int]:
        """Placed members of services short of their spread, and placed replicas' jobs without
        the domains they depend on."""
        p = self.p
        bad: set[int] = set()
        for s, svc in enumerate(p.services):
            placed = [j for j in svc.jobs if assignment[j] is not None]
            if not placed:
                continue
            if svc.spread_key >= 0:
                covered = sum(1 for c in self.domains[s][svc.spread_key].values() if c > 0)
                if covered < svc.spread_min:
                    bad.update(placed)
                    continue
            key = svc.affinity_key
            for t in svc.depends_on:
                counts = self.domains[t][key]
                for j in placed:
                    nodes = assignment[j] or ()
                    if any(counts[p.node_domains[n][key]] <= 0 for n in nodes):
                        bad.add(j)
        return bad


def _score_weights(p: Problem, rule: str) -> list[Sequence[float]]:
    """Per node, the weight of each resource's free amount in the rule's score."""
    if rule == MOST_ALLOCATED:
        # MostAllocated: allocated fraction of the node's own capacity, resources weighed equally.
        return [tuple(1.0 / c if c else 0.0 for c in caps) for caps in p.node_capacity]
    norms = [max(column) for column in zip(*p.node_capacity, strict=True)]
    shared = tuple(1.0 / c if c else 0.0 for c in norms)
    return [shared] * p.num_nodes


def _required_first(p: Problem, order: Sequence[int]) -> list[int]:
    if not p.job_required:
        return list(order)
    required = [j for j in order if p.job_required[j]]
    return required + [j for j in order if not p.job_required[j]]


def _run(p: Problem, rule: str, order: Sequence[int], layout: Layout | None = None) -> Solution:
    greedy = _Greedy(p, rule, layout)
    greedy.keep_running()
    for j in order:
        greedy.place(j)
    return greedy.finish(order)


def _by_priority(p: Problem) -> list[int]:
    return sorted(range(p.num_jobs), key=lambda j: (-p.job_priority[j], p.job_order[j]))


def first_fit_decreasing(p: Problem, layout: Layout | None = None) -> Solution:
    """Largest work first, first group and first node that fit (module docstring)."""
    work = job_work(p)
    order = sorted(range(p.num_jobs), key=lambda j: (-work[j], p.job_order[j]))
    return _run(p, FIRST_FIT, _required_first(p, order), layout)


def best_fit(p: Problem, layout: Layout | None = None) -> Solution:
    """Priority then FIFO, cheapest group, tightest node (module docstring)."""
    return _run(p, BEST_FIT, _required_first(p, _by_priority(p)), layout)


def kubernetes_like(p: Problem, layout: Layout | None = None) -> Solution:
    """FIFO, one job at a time, MostAllocated node, no lookahead (module docstring)."""
    order = sorted(range(p.num_jobs), key=lambda j: p.job_order[j])
    return _run(p, MOST_ALLOCATED, _required_first(p, order), layout)


def drf_ordered(p: Problem, layout: Layout | None = None) -> Solution:
    """Dominant resource fairness across departments, best-fit placement (module docstring)."""
    greedy = _Greedy(p, BEST_FIT, layout)
    greedy.keep_running()
    ranked = _by_priority(p)
    queued = [j for j in ranked if greedy.assignment[j] is None]
    required = [j for j in queued if p.job_required and p.job_required[j]]
    for j in required:
        greedy.place(j)
    pool_total = [sum(column) for column in zip(*p.node_capacity, strict=True)]
    usage: dict[int, list[int]] = {}
    for j, nodes in enumerate(greedy.assignment):
        if nodes is not None:
            _add_usage(greedy, usage, j, nodes)
    queues: dict[int, list[int]] = {}
    for j in queued:
        if greedy.assignment[j] is None:
            queues.setdefault(greedy.departments[j], []).append(j)

    def share(dept: int) -> float:
        used = usage.get(dept)
        if used is None:
            return 0.0
        return max((u / t for u, t in zip(used, pool_total, strict=True) if t), default=0.0)

    heap = [(share(d), d) for d in queues]
    heapq.heapify(heap)
    position = dict.fromkeys(queues, 0)
    while heap:
        _, dept = heapq.heappop(heap)
        j = queues[dept][position[dept]]
        position[dept] += 1
        if greedy.place(j):
            nodes = greedy.assignment[j]
            assert nodes is not None
            _add_usage(greedy, usage, j, nodes)
        if position[dept] < len(queues[dept]):
            heapq.heappush(heap, (share(dept), dept))
    return greedy.finish(ranked)


def _add_usage(greedy: _Greedy, usage: dict[int, list[int]], j: int, nodes: Sequence[int]) -> None:
    row = usage.setdefault(greedy.departments[j], [0] * greedy.p.num_resources)
    for n in nodes:
        for r, d in enumerate(greedy.demand(j, greedy.types[n])):
            row[r] += d


class Baseline(Protocol):
    """A greedy rule: an answer to `p`; `layout` may be shared between runs on one problem."""

    def __call__(self, p: Problem, layout: Layout | None = None) -> Solution: ...


BASELINES: dict[str, Baseline] = {
    "first_fit_decreasing": first_fit_decreasing,
    "best_fit": best_fit,
    "drf_ordered": drf_ordered,
    "kubernetes_like": kubernetes_like,
}


def best_baseline(
    p: Problem, weights: ObjectiveWeights = DEFAULT_WEIGHTS
) -> tuple[str, Solution, Evaluation]:
    """Runs every baseline and returns the name, answer and evaluation of the best one.

    Ties go to the earlier baseline in BASELINES. The node layout is computed once and shared.
    """
    layout = Layout(p)
    judge = Evaluator(p, weights)
    best: tuple[str, Solution, Evaluation] | None = None
    for name, baseline in BASELINES.items():
        solution = baseline(p, layout)
        evaluation = judge(solution)
        if best is None or evaluation.value > best[2].value:
            best = (name, solution, evaluation)
    assert best is not None
    return best
