"""A mutable feasible placement (its state in occupancy.py) with trial moves and node choice.

Every move runs as a trial (a journal of the jobs it touched) and is kept only if the objective
rises, measured exactly on the nodes it touched (work, money, energy, load, balance,
fragmentation; `Packing.delta`), so the search (local_search.py) never lowers the evaluator's
value whatever the weights.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from scheduler.placement.search.occupancy import Occupancy


class Packing(Occupancy):
    """A feasible placement whose moves run as trials (a journal of the jobs they touched),
    kept only if the objective rises, measured exactly on the nodes they touched (`delta`); and
    the choice of a node for a job (cheapest groups first, best fit within one)."""

    def trial(self) -> None:
        """Starts recording changes so that `rollback` can undo them."""
        self.journal = {}

    def commit(self) -> None:
        """Ends a trial keeping its changes."""
        self.journal = None

    def settle(self, accept_zero: bool = False) -> int:
        """Ends a trial: keeps it if the objective rose (or stayed, with `accept_zero`) and
        returns the gain, else undoes it and returns 0."""
        gain = self.delta()
        if gain > 0 or (accept_zero and gain == 0):
            self.commit()
            return gain
        self.rollback()
        return 0

    def delta(self) -> int:
        """How much the objective changed since `trial` (in cost units, exact for every term
        the search can change: work, money, energy, load, balance and fragmentation)."""
        journal = self.journal or {}
        view, p, w = self.view, self.p, self.objective
        money = 0
        used: dict[int, list[int]] = {}  # node -> usage now minus usage before
        count: dict[int, int] = {}
        devices: dict[int, list[int]] = {}  # node -> free shares before
        width = view.num_resources
        for j, (old, old_devs) in journal.items():
            new, new_devs = self.where[j], self.devs[j]
            for nodes, devs, sign in ((old, old_devs, -1), (new, new_devs, 1)):
                if nodes is None:
                    continue
                for i, n in enumerate(nodes):
                    demand = self.demand(j, n)
                    money += sign * view.money(j, view.node_type[n], p.node_group[n])
                    row = used.setdefault(n, [0] * width)
                    for r, q in enumerate(demand):
                        row[r] += sign * q
                    count[n] = count.get(n, 0) + sign
                    q = view.gpu_share(demand, n) if self._frag else 0
                    if q and devs is not None:
                        before = devices.setdefault(n, list(self.shares[n]))
                        per = 1000 if q % 1000 == 0 else q
                        for d in devs[i]:
                            before[d] += sign * per
        cost = w.money * money
        if self.energy and w.energy:
            for n, change in count.items():
                hosted = self.count[n]
                if view.open_cost[n] and (hosted > 0) != (hosted - change > 0):
                    cost += w.energy * view.open_cost[n] * (1 if hosted > 0 else -1)
        if self._loads or self._balances:
            for n, shift in used.items():
                cap = p.node_capacity[n]
                now = [c - f for c, f in zip(cap, self.free[n], strict=True)]
                then = [u - x for u, x in zip(now, shift, strict=True)]
                cost += self._node_cost(n, now) - self._node_cost(n, then)
        if devices:
            for n, before in devices.items():
                partial_now = sum(1 for s in self.shares[n] if 0 < s < 1000)
                partial_before = sum(1 for s in before if 0 < s < 1000)
                cost += w.fragmentation * (partial_now - partial_before)
        job_work = view.work
        gained = sum(
            (job_work[j] if self.where[j] is not None else 0)
            - (job_work[j] if old is not None else 0)
            for j, (old, _) in journal.items()
        )
        return self.work_value * gained - cost

    def _node_cost(self, n: int, used: Sequence[int]) -> int:
        """Load and balance cost of node n at usage `used` (evaluator.py's formulas)."""
        p, w = self.p, self.objective
        total = 0
        if self._loads:
            for lw, u, s in zip(p.load_weight, used, self.safety[n], strict=True):
                if lw and u > s:
                    total += w.load * lw * (u - s)
        if self._balances:
            cap = p.node_capacity[n]
            for b in p.balances:
                excess = b.target * (cap[b.r1] - used[b.r1]) - (cap[b.r2] - used[b.r2])
                if excess > 0:
                    total += w.balance * b.weight * excess
        return total

    def rollback(self) -> None:
        """Undoes every change since `trial`."""
        journal = self.journal
        assert journal is not None
        self.journal = None
        for j in journal:
            if self.where[j] is not None:
                self.remove(j)
        for j, (nodes, devs) in journal.items():
            if nodes is not None and devs is not None:
                self.restore(j, nodes, devs)

    def place(self, j: int, forbid: int = -1) -> bool:
        """Places unplaced job j whole, if it fits now: each group in order of price, each
        replica best fit (tightest node; open nodes first when opening costs). Never on
        node `forbid`."""
        for cls in self._groups_by_price(j):
            got = self.place_in(j, cls, forbid)
            if got is not None:
                return got
        return False

    def place_in(self, j: int, cls: Sequence[int], forbid: int = -1) -> bool | None:
        """Places unplaced job j whole on the node classes `cls` (one group): True if placed,
        False if the quota forbids it anywhere, None if it does not fit there."""
        reps = self.p.job_replicas[j]
        placed = 0
        for _ in range(reps):
            n = self._best_node(j, cls, forbid)
            if n < 0:
                break
            self.add(j, n)
            placed += 1
        if placed == reps:
            if self.quota_left and not self._quota_ok_after(j):
                self.remove(j)
                return False
            return True
        if placed:
            self.remove(j)
        return None

    def _groups_by_price(self, j: int) -> list[list[int]]:
        """The node classes of job j's eligible groups, cheapest group first (cached: the
        order depends only on the node set and the demand)."""
        p = self.p
        s = p.job_nodes[j]
        key = (s, p.job_demand[j] if j not in self.view.overrides else j)
        got = self._group_order.get(key)
        if got is None:
            groups = self.set_groups[s]
            view, nodes_of = self.view, self.classes.nodes
            ranked = sorted(
                groups, key=lambda gc: (view.money(j, nodes_of[gc[1][0]].node_type, gc[0]), gc[0])
            )
            got = [cls for _, cls in ranked]
            self._group_order[key] = got
        return got

    def _quota_ok_after(self, j: int) -> bool:
        """Whether the quotas placed job j counts against are within their limits."""
        left = self.quota_left
        return all(
            left[q] >= 0
            for n in self.where[j] or ()
            for q, _ in self.scopes.charges(j, n, self.demand(j, n))
        )

    def _best_node(self, j: int, cls: Sequence[int], forbid: int) -> int:
        """A node of the classes `cls` that holds one more replica of j, or -1: per class the
        tightest in its key resource, and of those the one leaving the least (normalised)."""
        best, best_score = -1, 0.0
        inv = self.inv_cap
        nodes_of = self.classes.nodes
        free = self.free
        view = self.view
        for c in cls:
            entries = self.index[c]
            if not entries:
                continue
            nc = nodes_of[c]
            demand = view.demand(j, nc.node_type)
            k = self.key[c]
            if entries[-1][0] < demand[k]:
                continue
            devices = view.has_devices and bool(nc.shares) and demand[view.gpu] > 0
            for i in range(bisect.bisect_left(entries, (demand[k], -1)), len(entries)):
                n = entries[i][1]
                row = free[n]
                if n == forbid or any(q > f for q, f in zip(demand, row, strict=True)):
                    continue
                if devices and self.room(demand, n) <= 0:
                    continue
                score = 0.0
                for q, f, x in zip(demand, row, inv, strict=True):
                    score += (f - q) * x
                if self.energy and not self.count[n] and nc.open_cost:
                    score += 1e6
                if best < 0 or score < best_score:
                    best, best_score = n, score
                break
        return best
