"""Where every replica of a packing is (search/packing.py), and the free capacity, devices and
quotas that leaves: the state the packing moves change, with the journal of the jobs a trial
touched."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from scheduler.placement.index.aggregate import (
    Classes,
    View,
    give_devices,
    occupy,
    take_devices,
)
from scheduler.placement.judges.scale import DEFAULT_WEIGHTS, objective_scale
from scheduler.placement.model.problem import ObjectiveWeights, Solution


class Occupancy:
    """Where every replica is, and the free capacity, devices and quotas that leaves.

    Built from the running jobs (pinned where they run) plus, optionally, an answer to start
    from. Every mutation keeps capacity, devices, eligibility, gangs and quotas satisfied.

    Finding a node is the hot path (a city fill asks tens of thousands of times), so each node
    class keeps its nodes sorted by the free amount of one key resource, the scarcest one:
    best fit is then a binary search plus a short walk, not a sweep of the class.
    """

    def __init__(
        self,
        view: View,
        classes: Classes,
        start: Solution | None = None,
        prices: Sequence[Sequence[float]] = (),
        weights: ObjectiveWeights = DEFAULT_WEIGHTS,
    ) -> None:
        p = view.p
        self.view = view
        self.p = p
        self.classes = classes
        # The objective moves are judged by: one unit of work is worth `work_value` units of
        # (weighted) cost, as in the evaluator (its work weight times its cost unit).
        self.objective = weights
        scale = objective_scale(p, weights)
        self.work_value = scale.work_weight * scale.cost_unit
        self._loads = any(p.load_weight) and weights.load > 0
        self._balances = bool(p.balances) and weights.balance > 0
        self._frag = view.has_devices and weights.fragmentation > 0
        self.safety = p.node_safety or p.node_capacity
        # LP dual prices per node class and resource, when an LP plan is at hand.
        self.prices = prices
        running = [j for j in range(p.num_jobs) if view.current[j] is not None]
        occ = occupy(view, running)
        self.consistent = occ.consistent
        self.free = occ.free
        self.shares = occ.shares
        nj = p.num_jobs
        self.where: list[list[int] | None] = [None] * nj
        self.devs: list[list[tuple[int, ...]] | None] = [None] * nj
        self.host: list[dict[int, int]] = [{} for _ in range(p.num_nodes)]
        self.count = [0] * p.num_nodes
        self.frozen = [view.current[j] is not None for j in range(nj)]
        # Room left per quota (model/problem.py, Quotas; QuotaScopes for which replicas count
        # where).
        self.scopes = view.scopes
        self.quota_left: list[int] = list(self.scopes.limit)
        self.node_class = [0] * p.num_nodes
        for c, nc in enumerate(classes.nodes):
            for n in nc.nodes:
                self.node_class[n] = c
        # Eligible node classes by group, per node set: the search's candidate lists.
        self.set_groups: list[list[tuple[int, list[int]]]] = []
        for classes_of_set in classes.node_classes_of_set:
            by_group: dict[int, list[int]] = {}
            for c in classes_of_set:
                by_group.setdefault(classes.nodes[c].group, []).append(c)
            self.set_groups.append(sorted(by_group.items()))
        width = p.num_resources
        top = [max((cap[r] for cap in p.node_capacity), default=1) or 1 for r in range(width)]
        self.inv_cap = [1.0 / t for t in top]
        # Share of the largest node a replica of each job takes, summed over resources.
        self.size = [sum(q * i for q, i in zip(d, self.inv_cap, strict=True)) for d in p.job_demand]
        self._weights: dict[int, list[float]] = {}
        self._group_order: dict[tuple[int, object], list[list[int]]] = {}
        self.energy = any(view.open_cost)
        # Placements before the current trial, by job (None: no trial running).
        self.journal: dict[int, tuple[list[int] | None, list[tuple[int, ...]] | None]] | None = None
        for j in running:
            nodes = list(view.current[j] or ())
            self._record(j, nodes, list(occ.devices.get(j, ())))
        self.key = [self._key_resource(c) for c in range(len(classes.nodes))]
        self.index: list[list[tuple[int, int]]] = [
            sorted((self.free[n][self.key[c]], n) for n in nc.nodes)
            for c, nc in enumerate(classes.nodes)
        ]
        if start is not None:
            self._load(start)

    def _key_resource(self, c: int) -> int:
        """The resource a node class is indexed by: the one the LP prices highest there, else
        the one with the most demand per unit of capacity in the whole problem."""
        nc = self.classes.nodes[c]
        view = self.view
        if view.has_devices and nc.shares:
            return view.gpu
        prices = self.prices[c] if self.prices else ()
        if any(prices):
            return max(range(len(prices)), key=lambda r: (prices[r] * nc.free[r], -r))
        if not hasattr(self, "_scarcity"):
            p = self.p
            demand = [0] * p.num_resources
            for d, reps in zip(p.job_demand, p.job_replicas, strict=True):
                for r, q in enumerate(d):
                    demand[r] += q * reps
            supply = [sum(cap[r] for cap in p.node_capacity) for r in range(p.num_resources)]
            self._scarcity = [d / s if s else 0.0 for d, s in zip(demand, supply, strict=True)]
        usable = [r for r in range(len(nc.free)) if nc.free[r] > 0] or [0]
        return max(usable, key=lambda r: (self._scarcity[r], -r))

    # -- capacity: the only places free capacity and devices change ---------------------------

    def take(
        self, n: int, demand: Sequence[int], devices: Sequence[int] | None = None
    ) -> tuple[int, ...]:
        """Claims one replica's capacity on node n, and devices: `devices` if given (to put a
        replica back exactly), else best fit. The caller checked that it fits."""
        row = self.free[n]
        c = self.node_class[n]
        k = self.key[c]
        old = row[k]
        for r, q in enumerate(demand):
            row[r] -= q
        q = self.view.gpu_share(demand, n)
        got: tuple[int, ...] | None = ()
        if q:
            if devices is None:
                got = take_devices(self.shares[n], q)
            else:
                got = tuple(devices)
                per = 1000 if q % 1000 == 0 else q
                shares = self.shares[n]
                for d in got:
                    shares[d] -= per
        assert got is not None
        if row[k] != old:
            self._reindex(c, n, old, row[k])
        return got

    def give(self, n: int, demand: Sequence[int], devices: Sequence[int]) -> None:
        """Returns one replica's capacity and devices on node n."""
        row = self.free[n]
        c = self.node_class[n]
        k = self.key[c]
        old = row[k]
        for r, q in enumerate(demand):
            row[r] += q
        q = self.view.gpu_share(demand, n)
        if q:
            give_devices(self.shares[n], q, devices)
        if row[k] != old:
            self._reindex(c, n, old, row[k])

    def _reindex(self, c: int, n: int, old: int, new: int) -> None:
        entries = self.index[c]
        i = bisect.bisect_left(entries, (old, n))
        del entries[i]
        bisect.insort(entries, (new, n))

    # -- bookkeeping --------------------------------------------------------------------------

    def _note(self, j: int) -> None:
        """Remembers job j's placement before a trial first changes it (see `trial`)."""
        journal = self.journal
        if journal is not None and j not in journal:
            nodes, devs = self.where[j], self.devs[j]
            journal[j] = (
                (None, None) if nodes is None or devs is None else (list(nodes), list(devs))
            )

    def _record(self, j: int, nodes: list[int], devs: list[tuple[int, ...]]) -> None:
        """Registers replicas whose capacity and devices are already taken."""
        self._note(j)
        self.where[j] = nodes
        self.devs[j] = devs
        for n in nodes:
            h = self.host[n]
            h[j] = h.get(j, 0) + 1
            self.count[n] += 1
            self._charge(j, n, self.demand(j, n), -1)

    def _load(self, s: Solution) -> None:
        view = self.view
        for j, nodes in enumerate(s.assignment):
            if nodes is None or view.current[j] is not None:
                continue
            given = s.devices[j] if s.devices else None
            devs: list[tuple[int, ...]] = []
            for i, n in enumerate(nodes):
                demand = self.demand(j, n)
                q = view.gpu_share(demand, n)
                if q and (given is None or not given[i]) and self.room(demand, n) < 1:
                    self.consistent = False
                mine = given[i] if given is not None and given[i] else None
                devs.append(self.take(n, demand, mine))
            self._record(j, list(nodes), devs)
            self.frozen[j] = True  # an answer from elsewhere: keep what it decided

    def demand(self, j: int, n: int) -> tuple[int, ...]:
        return self.view.demand(j, self.view.node_type[n])

    def room(self, demand: Sequence[int], n: int) -> int:
        """How many replicas with `demand` fit node n now."""
        most = 1 << 30
        row = self.free[n]
        for r, q in enumerate(demand):
            if q > 0:
                f = row[r] // q
                if f < most:
                    most = f
                    if most <= 0:
                        return 0
        view = self.view
        if view.has_devices and view.devices[n]:
            q = demand[view.gpu]
            if q > 0:
                shares = self.shares[n]
                if q % 1000 == 0:
                    most = min(most, sum(1 for s in shares if s == 1000) // (q // 1000))
                else:
                    most = min(most, sum(s // q for s in shares))
        return most

    def add(self, j: int, n: int) -> None:
        """Places one more replica of job j on node n (the caller checked `room`)."""
        self._note(j)
        demand = self.demand(j, n)
        got = self.take(n, demand)
        nodes = self.where[j]
        if nodes is None:
            nodes = []
            self.where[j] = nodes
            self.devs[j] = []
        nodes.append(n)
        devs = self.devs[j]
        assert devs is not None
        devs.append(got)
        h = self.host[n]
        h[j] = h.get(j, 0) + 1
        self.count[n] += 1
        self._charge(j, n, demand, -1)

    def remove(self, j: int) -> None:
        """Takes every replica of job j off its nodes."""
        self._note(j)
        nodes, devs = self.where[j], self.devs[j]
        assert nodes is not None and devs is not None
        for n, got in zip(nodes, devs, strict=True):
            demand = self.demand(j, n)
            self.give(n, demand, got)
            h = self.host[n]
            h[j] -= 1
            if not h[j]:
                del h[j]
            self.count[n] -= 1
            self._charge(j, n, demand, 1)
        self.where[j] = None
        self.devs[j] = None

    def restore(self, j: int, nodes: list[int], devs: list[tuple[int, ...]]) -> None:
        """Puts job j back exactly where it was (nodes and devices just freed by `remove`)."""
        for n, got in zip(nodes, devs, strict=True):
            self.take(n, self.demand(j, n), got)
        self._record(j, nodes, devs)

    def _charge(self, j: int, n: int, demand: Sequence[int], sign: int) -> None:
        if self.quota_left:
            for q, amount in self.scopes.charges(j, n, demand):
                self.quota_left[q] += sign * amount

    def quota_room(self, j: int, n: int, demand: Sequence[int], replicas: int) -> bool:
        """Whether `replicas` more replicas of job j with `demand` on node n fit its quotas."""
        if not self.quota_left:
            return True
        left = self.quota_left
        return all(a * replicas <= left[q] for q, a in self.scopes.charges(j, n, demand))

    # -- placing whole jobs -------------------------------------------------------------------

    def weights(self, c: int) -> list[float]:
        """What a unit of each resource is worth on node class c: the LP's dual prices when it
        gave any (plus a trace of the node share, so free resources still count a little),
        else the share of the node it takes."""
        got = self._weights.get(c)
        if got is None:
            free = self.classes.nodes[c].free
            base = [1.0 / f if f > 0 else 0.0 for f in free]
            prices = self.prices[c] if self.prices else None
            if prices and any(prices):
                scale = max(prices) * 1e-3
                got = [pr + scale * b * max(free) for pr, b in zip(prices, base, strict=True)]
            else:
                got = base
            self._weights[c] = got
        return got

    # -- answers ------------------------------------------------------------------------------

    def placed(self, j: int) -> bool:
        return self.where[j] is not None

    def solution(self) -> Solution:
        """The answer, with device ids where replicas use devices (verify.py's convention)."""
        view = self.view
        assignment = tuple(None if w is None else tuple(w) for w in self.where)
        if not view.has_devices:
            return Solution(assignment=assignment)
        devices: list[tuple[tuple[int, ...], ...] | None] = []
        for w, d in zip(self.where, self.devs, strict=True):
            if w is None or d is None or not any(d):
                devices.append(None)
            else:
                devices.append(tuple(tuple(sorted(x)) for x in d))
        return Solution(assignment=assignment, devices=tuple(devices))
