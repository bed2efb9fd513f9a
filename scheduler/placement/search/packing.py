"""A mutable feasible placement (`Packing`) and the local search that improves it.

Every move runs as a trial (a journal of the jobs it touched) and is kept only if the objective
rises, measured exactly on the nodes it touched (work, money, energy, load, balance,
fragmentation; `Packing.delta`), so the search never lowers the evaluator's value whatever the
weights. Moves, in the order one round tries them:
- insert: place unplaced jobs where they fit as things are (most work first);
- eject: place an unplaced single-replica job on one of the nodes where it lacks least, by
  moving residents elsewhere or evicting residents of less work;
- gang: place an unplaced gang in a group by evicting less work from the nodes where its
  replicas lack least, re-placing what was evicted wherever it fits;
- repack: refill a node from its residents and the pool of unplaced jobs, densest first by the
  LP's dual prices (more work on the node, the dropped residents may find room elsewhere);
- perturb (only with a time or step budget, at a local optimum): ruin and recreate a few nodes,
  half the time nodes drawn by the value of the capacity they leave idle (resource_value);
- cost (money, energy): move jobs to cheaper groups; empty open nodes into others by chains of
  swaps (vector bin packing).

What the search never touches: running jobs (they stay where they run: moving and evicting them
is the CP-SAT / LNS engine's business) and jobs of services (their relations are checked only
by the greedy that placed them, so they are frozen afterwards). Required jobs may move but
are never left out.
"""

from __future__ import annotations

import bisect
import heapq
import random
import time
from collections.abc import Callable, Mapping, Sequence

from scheduler.placement.index.aggregate import (
    Classes,
    View,
    classify,
    give_devices,
    occupy,
    take_devices,
)
from scheduler.placement.judges.evaluator import DEFAULT_WEIGHTS, objective_scale
from scheduler.placement.model.problem import ObjectiveWeights, Problem, Solution

Progress = Callable[[str, Mapping[str, object]], None]

# An ejection looks at this many nodes per job, those where it lacks least: scanning the
# residents of every eligible node made one pass take 20 s on the synthetic M city.
_NEAR_NODES = 12
# Ruin-and-recreate trials in a row without a gain before the perturbation gives up.
_PERTURB_PATIENCE = 400
# Unplaced jobs offered to the emptied nodes per trial (a sample, on large problems).
_PERTURB_CANDIDATES = 300
# Share of the ruins aimed at nodes with idle capacity of value (the rest: any nodes).
_PERTURB_IDLE = 0.5
# Swaps one node-emptying chain may make before it gives up.
_SWAP_LIMIT = 30


class Packing:
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
        # Room left per quota (model.py, Quotas; QuotaScopes for which replicas count where).
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


class Budget:
    """When the search stops: at a wall-clock deadline (time.monotonic()), and/or after a
    number of steps (job moves tried), which makes the stopping point, and so the answer,
    independent of the machine's speed and load. Neither: when no move helps any more."""

    def __init__(self, deadline: float | None = None, steps: int | None = None) -> None:
        self.deadline = deadline
        self.steps = steps
        self.used = 0

    def exhausted(self) -> bool:
        if self.steps is not None and self.used >= self.steps:
            return True
        return self.deadline is not None and time.monotonic() > self.deadline

    def spent(self) -> bool:
        """Counts one step; True if the budget is gone (the step should not be taken)."""
        self.used += 1
        return self.exhausted()


class Misses:
    """Demands that found no place, per (node set, replicas, quota department). While free
    capacity only shrinks, a job of the same kind needing at least as much of every resource
    finds no place either, so it is not even tried."""

    def __init__(self, state: Packing) -> None:
        self.state = state
        self.failed: dict[tuple[int, ...], list[tuple[int, ...]]] = {}

    def _key(self, j: int) -> tuple[int, ...]:
        view, p = self.state.view, self.state.p
        dept = view.department[j]
        return (
            p.job_nodes[j],
            p.job_replicas[j],
            dept if dept in view.quota_departments else -1,
            j if j in view.overrides else -1,
        )

    def hopeless(self, j: int) -> bool:
        demand = self.state.p.job_demand[j]
        for low in self.failed.get(self._key(j), ()):
            if all(a <= b for a, b in zip(low, demand, strict=True)):
                return True
        return False

    def record(self, j: int) -> None:
        self.failed.setdefault(self._key(j), []).append(self.state.p.job_demand[j])


def improve(
    p: Problem,
    weights: ObjectiveWeights,
    solution: Solution,
    deadline: float | None = None,
    *,
    steps: int | None = None,
    progress: Progress | None = None,
) -> Solution:
    """`solution` after local search until `deadline` (time.monotonic()) or `steps` job moves
    tried (a budget that does not depend on the machine), or until no move helps.

    The jobs `solution` places are kept where they are, except queued jobs outside services,
    which the moves may shift or (for more work) evict.
    """
    view = View(p)
    state = Packing(view, classify(view), solution, weights=weights)
    # Queued jobs of the given answer may be moved: unfreeze them.
    for j in range(p.num_jobs):
        if view.current[j] is None and j not in view.in_service:
            state.frozen[j] = False
    improve_packing(state, weights, Budget(deadline, steps), progress=progress)
    return state.solution()


def improve_packing(
    state: Packing,
    weights: ObjectiveWeights,
    budget: Budget,
    *,
    progress: Progress | None = None,
) -> None:
    """Runs the moves (module docstring) on `state` in place until none helps or time is up."""
    rounds = 0
    gained = drop_pass(state, budget) if weights.work is not None else 0
    passes: list[tuple[str, Callable[[Packing, Budget], int]]] = [
        ("insert", insert_pass),
        ("eject", eject_pass),
        ("gang", gang_pass),
        ("repack", repack_pass),
        ("insert", insert_pass),
    ]
    while not budget.exhausted():
        rounds += 1
        step = 0
        for name, move in passes:
            t0 = time.monotonic()
            got = move(state, budget)
            step += got
            if progress is not None:
                progress(
                    "local_search_pass",
                    {"round": rounds, "move": name, "work": got, "s": time.monotonic() - t0},
                )
        gained += step
        if not step:
            break
    if budget.deadline is not None or budget.steps is not None:
        # Time left at a local optimum: ruin and recreate small neighbourhoods.
        gained += perturb(state, budget)
    # Work is settled; now the costs: cheaper groups, fewer open nodes.
    saved = 0
    if weights.money or weights.energy:
        while not budget.exhausted():
            step_saved = cost_pass(state, budget)
            if weights.energy and state.energy:
                step_saved += consolidate_pass(state, budget)
            saved += step_saved
            if not step_saved:
                break
    if progress is not None:
        progress(
            "local_search_done",
            {"rounds": rounds, "work_gained": gained, "cost_saved": saved, "steps": budget.used},
        )


def insert_pass(state: Packing, budget: Budget) -> int:
    """Places unplaced movable jobs that fit as they are, most work first, each if it raises
    the objective (always, unless an explicit work weight is outweighed by the job's cost);
    returns the gain."""
    view = state.view
    p = state.p
    todo = [
        j
        for j in range(p.num_jobs)
        if state.where[j] is None and not state.frozen[j] and j not in view.in_service
    ]
    todo.sort(key=lambda j: (-view.work[j], p.job_order[j], j))
    gained = 0
    misses = Misses(state)
    for j in todo:
        if budget.spent():
            break
        if misses.hopeless(j):
            continue
        state.trial()
        if state.place(j):
            gained += state.settle()
        else:
            state.rollback()
            misses.record(j)
    return gained


def drop_pass(state: Packing, budget: Budget) -> int:
    """Unplaces movable jobs whose cost outweighs their work (only possible with an explicit
    work weight); returns the gain."""
    gained = 0
    for j in range(state.p.num_jobs):
        if state.where[j] is None or not _evictable(state, j):
            continue
        if budget.spent():
            break
        state.trial()
        state.remove(j)
        gained += state.settle()
    return gained


def shape_key(p: Problem, view: View, j: int) -> object:
    """Jobs with equal keys fit exactly the same places (so one failure rules out all)."""
    dept = view.department[j]
    return (
        p.job_demand[j],
        p.job_replicas[j],
        p.job_nodes[j],
        dept if dept in view.quota_departments else -1,
        j if j in view.overrides else -1,
    )


def eject_pass(state: Packing, budget: Budget, tries: int = 4) -> int:
    """For each unplaced single-replica job, most work first: make room on one node by taking
    movable replicas off it, place the job, and re-place what was taken off elsewhere. Kept
    only if the work gained beats the work of what found no new place. Returns the net gain."""
    view, p = state.view, state.p
    todo = [
        j
        for j in range(p.num_jobs)
        if state.where[j] is None
        and not state.frozen[j]
        and j not in view.in_service
        and p.job_replicas[j] == 1
    ]
    todo.sort(key=lambda j: (-view.work[j], p.job_order[j], j))
    failed: set[object] = set()
    # (job shape, forbidden node) that found no other node: until a move is kept, no node but
    # the forbidden one gains room, so trying again is pointless.
    misses: set[tuple[object, int]] = set()
    gained = 0
    for u in todo:
        if budget.spent():
            break
        if state.where[u] is not None:
            continue
        key = shape_key(p, view, u)
        if key in failed:
            continue
        # (insert_pass ran just before: u does not fit anywhere as things are.)
        net = _eject_into(state, u, tries, misses)
        if net > 0:
            gained += net
            misses.clear()  # the move may have left room somewhere
        else:
            failed.add(key)
    return gained


def _eject_into(state: Packing, u: int, tries: int, misses: set[tuple[object, int]]) -> int:
    """One ejection move for job u (see eject_pass); returns the net work gained, 0 if none.

    Only the few nodes where u lacks least (priced like the LP prices resources) are looked
    at. Per node, two ways to cover what u lacks there: the residents of least work (a gain
    even if none of them finds a new place), and the smallest residents (the easiest to
    re-place). The cheapest candidates of each kind are tried.
    """
    view = state.view
    w_u = view.work[u]
    work = view.work
    size = state.size
    near = [(lack, n) for lack, n in _lacks(state, u) if lack > 0]
    cheap: list[tuple[int, int, int, list[int]]] = []
    small: list[tuple[int, int, int, list[int]]] = []
    for _, n in heapq.nsmallest(_NEAR_NODES, near):
        demand = state.demand(u, n)
        row = state.free[n]
        deficit = [q - f if q > f else 0 for q, f in zip(demand, row, strict=True)]
        residents = [v for v in state.host[n] if _movable(state, v)]
        if not residents:
            continue
        by_work = sorted((v for v in residents if work[v] < w_u), key=lambda v: (work[v], v))
        got = _cover(state, n, deficit, by_work, w_u)
        if got is not None:
            cheap.append((got[0], len(got[1]), n, got[1]))
        by_size = sorted(residents, key=lambda v: (size[v], v))
        got = _cover(state, n, deficit, by_size, None)
        if got is not None:
            small.append((got[0], len(got[1]), n, got[1]))
    cheap.sort()
    small.sort()
    seen: set[tuple[int, ...]] = set()
    for _, _, n, chosen in cheap[:tries] + small[:tries]:
        key = (n, *sorted(chosen))
        if key in seen:
            continue
        seen.add(key)
        net = _try_eject(state, u, n, chosen, misses)
        if net > 0:
            return net
    return 0


def _lacks(state: Packing, u: int) -> list[tuple[float, int]]:
    """(weighted capacity job u lacks there, node) for every node of a class u could fit when
    empty: where moving residents away could make room (ejection and shift chains)."""
    view, p = state.view, state.p
    near: list[tuple[float, int]] = []
    for _, cls in state.set_groups[p.job_nodes[u]]:
        for c in cls:
            nc = state.classes.nodes[c]
            demand = view.demand(u, nc.node_type)
            if any(q > f for q, f in zip(demand, nc.free, strict=True)):
                continue
            weights = state.weights(c)
            for n in nc.nodes:
                lack = 0.0
                for q, f, x in zip(demand, state.free[n], weights, strict=True):
                    if q > f:
                        lack += (q - f) * x
                near.append((lack, n))
    return near


def _cover(
    state: Packing, n: int, deficit: list[int], residents: list[int], limit: int | None
) -> tuple[int, list[int]] | None:
    """Residents of node n, taken in the given order, that cover `deficit`; their total work
    must stay below `limit` (if given). None if they cannot."""
    work = state.view.work
    chosen: list[int] = []
    cost = 0
    for v in residents:
        d_v = state.demand(v, n)
        if not any(x > 0 and y > 0 for x, y in zip(deficit, d_v, strict=True)):
            continue
        chosen.append(v)
        cost += work[v]
        if limit is not None and cost >= limit:
            return None
        deficit = [x - y if x > y else 0 for x, y in zip(deficit, d_v, strict=True)]
        if not any(deficit):
            return cost, chosen
    return None


def _try_eject(
    state: Packing, u: int, n: int, chosen: list[int], misses: set[tuple[object, int]]
) -> int:
    """Takes `chosen` off node n, puts u there, re-places `chosen` elsewhere; keeps the result
    if the objective rose (returns the gain), else undoes everything and returns 0."""
    view = state.view
    state.trial()
    for v in chosen:
        state.remove(v)
    demand = state.demand(u, n)
    if state.room(demand, n) < 1 or not state.quota_room(u, n, demand, 1):
        state.rollback()
        return 0
    state.add(u, n)
    lost = 0
    w_u = view.work[u]
    for v in sorted(chosen, key=lambda v: -view.work[v]):
        key = (shape_key(state.p, view, v), n)
        if key not in misses and state.place(v, forbid=n):
            continue
        misses.add(key)
        lost += view.work[v]
        if lost >= w_u:
            state.rollback()
            return 0
    return state.settle()


def repack_pass(state: Packing, budget: Budget) -> int:
    """Node by node: refill the node from its movable single-replica residents and the pool of
    unplaced single-replica jobs, densest first (work per priced unit of demand). Kept when the
    node then holds more work; residents left out become unplaced (other passes may place them
    elsewhere). Returns the work gained."""
    view, p, classes = state.view, state.p, state.classes
    pool: dict[tuple[object, ...], list[int]] = {}
    for j in range(p.num_jobs):
        if state.where[j] is None and _movable(state, j):
            pool.setdefault(_pool_key(state, j), []).append(j)
    keys_of_class: dict[int, list[tuple[object, ...]]] = {}
    for key, jobs in pool.items():
        for c in classes.node_classes_of_set[p.job_nodes[jobs[0]]]:
            keys_of_class.setdefault(c, []).append(key)
    gained = 0
    for c, nc in enumerate(classes.nodes):
        keys = keys_of_class.get(c)
        if not keys or nc.shares:
            continue
        if budget.exhausted():
            break
        weights = state.weights(c)
        # The pool's offer for this class, densest first (the same for all its nodes).
        offer: list[_Item] = []
        for key in keys:
            if not pool[key]:
                continue
            j = pool[key][-1]
            d = view.demand(j, nc.node_type)
            offer.append((-_density(view.work[j], d, weights), -view.work[j], -1, d, key))
        offer.sort(key=lambda it: it[:3])
        # Least demand of any offer per resource: a node with less left is full for the pool.
        need = [min(it[3][r] for it in offer) for r in range(view.num_resources)] if offer else []
        for n in nc.nodes:
            if budget.spent():
                return gained
            gained += _repack_node(state, n, offer, need, pool, weights)
    return gained


# (-density, -work, resident job or -1, demand on the node, pool key or None)
_Item = tuple[float, int, int, tuple[int, ...], "tuple[object, ...] | None"]


def _movable(state: Packing, j: int) -> bool:
    """Single-replica queued jobs outside services and not required: the ones node moves may
    take off a node (and perhaps leave unplaced)."""
    view = state.view
    return (
        not state.frozen[j]
        and state.p.job_replicas[j] == 1
        and j not in view.in_service
        and not view.required[j]
    )


def _pool_key(state: Packing, j: int) -> tuple[object, ...]:
    view = state.view
    dept = view.department[j]
    return (
        state.p.job_nodes[j],
        state.p.job_demand[j],
        dept if dept in view.quota_departments else -1,
        view.work[j],
        j if j in view.overrides else -1,
    )


def _repack_node(
    state: Packing,
    n: int,
    offer: list[_Item],
    need: list[int],
    pool: dict[tuple[object, ...], list[int]],
    weights: list[float],
) -> int:
    view = state.view
    work = view.work
    residents = [v for v in state.host[n] if _movable(state, v)]
    if not residents:
        return 0  # nothing to trade: the insert pass already tried the pool here
    room = list(state.free[n])
    mine: list[_Item] = []
    for v in residents:
        d = state.demand(v, n)
        for r, q in enumerate(d):
            room[r] += q
        mine.append((-_density(work[v], d, weights), -work[v], v, d, None))
    mine.sort(key=lambda it: it[:3])
    need = [min([q, *(it[3][r] for it in mine)]) for r, q in enumerate(need)]
    old = sum(work[v] for v in residents)
    left = room
    quota = list(state.quota_left) if state.quota_left else None
    keep: list[int] = []
    take: list[tuple[tuple[object, ...], int]] = []
    new = 0
    for _, neg_w, v, d, key in heapq.merge(mine, offer, key=lambda it: it[:3]):
        if key is None:
            if all(q <= f for q, f in zip(d, left, strict=True)):
                for r, q in enumerate(d):
                    left[r] -= q
                keep.append(v)
                new -= neg_w
                if any(f < q for f, q in zip(left, need, strict=True)):
                    break
            continue
        jobs = pool[key]
        most = len(jobs)
        if not most:
            continue
        for q, f in zip(d, left, strict=True):
            if q > f:
                most = 0
                break
            if q and f // q < most:
                most = f // q
        charges = state.scopes.charges(jobs[-1], n, d) if quota is not None else []
        if quota is not None:
            for q, a in charges:
                most = min(most, max(0, quota[q] // a))
        if most <= 0:
            continue
        for r, q in enumerate(d):
            left[r] -= most * q
        if quota is not None:
            for q, a in charges:
                quota[q] -= most * a
        take.append((key, most))
        new -= most * neg_w
        if any(f < q for f, q in zip(left, need, strict=True)):
            break
    if new <= old:
        return 0
    state.trial()
    dropped = [v for v in residents if v not in keep]
    for v in dropped:
        state.remove(v)
    taken: list[tuple[tuple[object, ...], int]] = []
    for key, count in take:
        jobs = pool[key]
        for _ in range(count):
            j = jobs.pop()
            state.add(j, n)
            taken.append((key, j))
    gain = state.settle()
    if gain:
        for v in dropped:
            pool.setdefault(_pool_key(state, v), []).append(v)
    else:
        for key, j in reversed(taken):
            pool[key].append(j)
    return gain


def _density(w: int, demand: Sequence[int], weights: Sequence[float]) -> float:
    priced = sum(q * x for q, x in zip(demand, weights, strict=True))
    return w / priced if priced > 0 else float("inf")


def cost_pass(state: Packing, budget: Budget) -> int:
    """Moves each movable placed job to where it costs less (a cheaper group, a node that is
    open anyway), if it fits there; returns the gain. Work never changes."""
    view, p = state.view, state.p
    w = state.objective
    gained = 0
    for j in range(p.num_jobs):
        if state.where[j] is None or state.frozen[j] or j in view.in_service:
            continue
        if budget.spent():
            break
        nodes = state.where[j]
        assert nodes is not None
        alone = state.energy and w.energy and any(state.count[n] == nodes.count(n) for n in nodes)
        if not alone and _money(state, j) <= _least_money(state, j):
            continue  # already as cheap as it can be
        state.trial()
        state.remove(j)
        if state.place(j):
            gained += state.settle()
        else:
            state.rollback()
    return gained


def _money(state: Packing, j: int) -> int:
    view, p = state.view, state.p
    nodes = state.where[j]
    assert nodes is not None
    return sum(view.money(j, view.node_type[n], p.node_group[n]) for n in nodes)


def _least_money(state: Packing, j: int) -> int:
    """A lower bound on job j's money anywhere: its replicas in its cheapest group."""
    view, p = state.view, state.p
    best = min(
        (
            view.money(j, state.classes.nodes[c].node_type, g)
            for g, cls in state.set_groups[p.job_nodes[j]]
            for c in cls
        ),
        default=0,
    )
    return best * p.job_replicas[j]


def consolidate_pass(state: Packing, budget: Budget) -> int:
    """Empties open nodes into nodes that are open anyway (node_open_cost > 0), least loaded
    first: each resident goes to another open node, directly or by taking the place of a
    smaller resident there, which then needs a place in turn (a chain of at most
    _SWAP_LIMIT swaps). Kept if the objective rises (the open cost saved beats any money the
    moves add). Returns the gain."""
    view, p = state.view, state.p
    gained = 0
    load = [0.0] * p.num_nodes
    for j, nodes in enumerate(state.where):
        for n in nodes or ():
            load[n] += state.size[j]
    order = sorted(
        (n for n in range(p.num_nodes) if state.count[n] and view.open_cost[n]),
        key=lambda n: (load[n], n),
    )
    for n in order:
        if budget.spent():
            break
        residents = list(state.host[n])
        if not residents or not all(_shiftable(state, v) for v in residents):
            continue
        state.trial()
        for v in residents:
            state.remove(v)
        if _rehome(state, residents, n):
            gained += state.settle()
        else:
            state.rollback()
    return gained


def _shiftable(state: Packing, j: int) -> bool:
    """Single-replica jobs a move may put on another node (required ones too)."""
    return not state.frozen[j] and state.p.job_replicas[j] == 1 and j not in state.view.in_service


def _rehome(state: Packing, pending: list[int], closed: int) -> bool:
    """Places every job of `pending` on open nodes other than `closed`, swapping out smaller
    residents when needed; False if the chain gets stuck or too long."""
    size, p = state.size, state.p
    pending = sorted(pending, key=lambda v: (size[v], v))
    swaps = 0
    while pending:
        v = pending.pop()  # largest first
        if _place_open(state, v, closed):
            continue
        if swaps >= _SWAP_LIMIT:
            return False
        allowed = set(state.classes.node_classes_of_set[p.job_nodes[v]])
        best: tuple[float, int, int] | None = None
        for m in range(p.num_nodes):
            if m == closed or not state.count[m] or state.node_class[m] not in allowed:
                continue
            demand = state.demand(v, m)
            for w in state.host[m]:
                if size[w] >= size[v] or not _shiftable(state, w):
                    continue
                freed = state.demand(w, m)
                fits = all(q <= f + g for q, f, g in zip(demand, state.free[m], freed, strict=True))
                if fits and (best is None or (size[w], -m, -w) > (best[0], -best[1], -best[2])):
                    best = (size[w], m, w)
        if best is None:
            return False
        _, m, w = best
        state.remove(w)
        demand = state.demand(v, m)
        if state.room(demand, m) < 1 or not state.quota_room(v, m, demand, 1):
            return False
        state.add(v, m)
        pending.append(w)
        pending.sort(key=lambda x: (size[x], x))
        swaps += 1
    return True


def _place_open(state: Packing, j: int, forbid: int) -> bool:
    """Places job j, never on `forbid`, and keeps it only if it opened no node (best fit
    already prefers open nodes, so this fails only when no open node holds it)."""
    if not state.place(j, forbid=forbid):
        return False
    nodes = state.where[j]
    assert nodes is not None
    if any(state.count[n] == nodes.count(n) for n in set(nodes)):
        state.remove(j)
        return False
    return True


def gang_pass(state: Packing, budget: Budget) -> int:
    """For each unplaced gang (several replicas), most work first: in each eligible group,
    evict movable jobs of less work from the nodes where a replica lacks least, until the
    gang fits; re-place the evicted elsewhere. Kept if the work gained beats the work that
    found no new place. Returns the net gain."""
    view, p = state.view, state.p
    todo = [
        j
        for j in range(p.num_jobs)
        if state.where[j] is None
        and not state.frozen[j]
        and j not in view.in_service
        and p.job_replicas[j] > 1
    ]
    todo.sort(key=lambda j: (-view.work[j], p.job_order[j], j))
    failed: set[object] = set()
    gained = 0
    for u in todo:
        if budget.spent():
            break
        key = shape_key(p, view, u)
        if state.where[u] is not None or key in failed:
            continue
        for cls in state._groups_by_price(u):
            net = _gang_into(state, u, cls)
            if net > 0:
                gained += net
                break
        else:
            failed.add(key)
    return gained


def _gang_into(state: Packing, u: int, cls: Sequence[int]) -> int:
    view = state.view
    work = view.work
    w_u = work[u]
    lacks: list[tuple[float, int]] = []
    for c in cls:
        nc = state.classes.nodes[c]
        demand = view.demand(u, nc.node_type)
        weights = state.weights(c)
        for n in nc.nodes:
            lack = sum(
                (q - f) * x for q, f, x in zip(demand, state.free[n], weights, strict=True) if q > f
            )
            lacks.append((lack, n))
    lacks.sort()
    state.trial()
    evicted: list[int] = []
    cost = 0
    placed: bool | None = None
    for _, n in lacks:
        placed = state.place_in(u, cls)
        if placed is not None:
            break
        demand = state.demand(u, n)
        residents = sorted(
            (v for v in state.host[n] if _evictable(state, v) and work[v] < w_u),
            key=lambda v: (work[v], v),
        )
        for v in residents:
            if state.room(demand, n) >= 1 or cost + work[v] >= 2 * w_u:
                break
            evicted.append(v)
            cost += work[v]
            state.remove(v)
    else:
        placed = state.place_in(u, cls)
    if not placed:
        state.rollback()
        return 0
    for v in sorted(evicted, key=lambda v: -work[v]):
        state.place(v)
    return state.settle()


def _evictable(state: Packing, j: int) -> bool:
    """Jobs a move may take off their nodes (and perhaps leave unplaced): queued, outside
    services, not required."""
    view = state.view
    return not state.frozen[j] and j not in view.in_service and not view.required[j]


def shift_into(state: Packing, u: int, depth: int = 2, tries: int = 6) -> bool:
    """Places unplaced single-replica job u by moving other single-replica jobs (required ones
    too, never running or service jobs) off one node onto others, losing nothing; a moved job
    may in turn shift others, `depth` levels deep. False (and nothing changed) if no such
    chain is found among the nodes where u lacks least."""
    if state.place(u):
        return True
    if depth <= 0 or state.p.job_replicas[u] != 1:
        return False
    view, p = state.view, state.p
    near = _lacks(state, u)
    size = state.size
    for _, n in heapq.nsmallest(tries, near):
        demand = state.demand(u, n)
        deficit = [q - f if q > f else 0 for q, f in zip(demand, state.free[n], strict=True)]
        residents = sorted(
            (
                v
                for v in state.host[n]
                if not state.frozen[v] and v not in view.in_service and p.job_replicas[v] == 1
            ),
            key=lambda v: (size[v], v),
        )
        got = _cover(state, n, deficit, residents, None)
        if got is None:
            continue
        saved: list[tuple[int, list[int], list[tuple[int, ...]]]] = []
        for v in got[1]:
            where, devs = state.where[v], state.devs[v]
            assert where is not None and devs is not None
            saved.append((v, list(where), list(devs)))
            state.remove(v)
        if state.room(demand, n) < 1 or not state.quota_room(u, n, demand, 1):
            for v, where, devs in saved:
                state.restore(v, where, devs)
            continue
        state.add(u, n)
        moved: list[int] = []
        for v, _, _ in sorted(saved, key=lambda e: -size[e[0]]):
            state.frozen[u] = True  # keep the chain from moving u straight back out
            ok = state.place(v, forbid=n) or shift_into(state, v, depth - 1, tries)
            state.frozen[u] = False
            if not ok:
                break
            moved.append(v)
        if len(moved) == len(saved):
            return True
        for v in moved:
            state.remove(v)
        state.remove(u)
        for v, where, devs in saved:
            state.restore(v, where, devs)
    return False


def _idle_ruin(
    state: Packing, pool: Sequence[int], unit: Sequence[float], rng: random.Random
) -> list[int] | None:
    """One to three nodes of one class, drawn with probability proportional to the value of
    the capacity they leave free (`unit` per resource): where unplaced work could still go if
    the residents were packed differently. None when no node has free capacity of value."""
    free = state.free
    idle = [sum(f * u for f, u in zip(free[n], unit, strict=True) if u) for n in pool]
    if not any(w > 0 for w in idle):
        return None
    first = rng.choices(pool, idle)[0]
    nodes = state.classes.nodes[state.node_class[first]].nodes
    weights = [sum(f * u for f, u in zip(free[n], unit, strict=True) if u) for n in nodes]
    ruined = {first}
    if any(weights):
        ruined.update(rng.choices(nodes, weights, k=rng.randint(0, 2)))
    return sorted(ruined, key=lambda n: n != first)


def perturb(state: Packing, budget: Budget, seed: int = 0) -> int:
    """Iterated local search until the budget is spent: empty a few nodes of one class of
    their movable jobs, refill from the evicted jobs and the unplaced jobs eligible there (a
    sample of them on large problems; densest or largest first, order shaken a little); keep
    the result unless it lost work. The nodes are any nodes of a random class, or (half the
    time, `_idle_ruin`) nodes drawn by the value of their free capacity. Seeded, so a step
    budget gives the same answer every run. Returns the work gained.

    Measured on the OpenB trace (GPU-valued work, LP rounding with 8,000 steps): the aimed
    ruins and keeping the evicted jobs in the refill took the cpu050 pod list from 0.923 to
    0.947 of the GPU capacity (FGD 0.936)."""
    rng = random.Random(seed)
    view, p = state.view, state.p
    trials = 0
    classes = [c for c, nc in enumerate(state.classes.nodes) if not nc.forced_open or nc.size]
    eligible: dict[int, list[int]] = {}
    for j in range(p.num_jobs):
        if not state.frozen[j] and j not in view.in_service:
            for c in state.classes.node_classes_of_set[p.job_nodes[j]]:
                eligible.setdefault(c, []).append(j)
    classes = [c for c in classes if c in eligible]
    # Work per unit of each resource (Problem.resource_value per unit of the largest node):
    # what a node's free capacity is worth, for the ruins aimed at idle value.
    values = p.resource_value or (1,) * p.num_resources
    unit = [v * i for v, i in zip(values, state.inv_cap, strict=True)]
    pool = [n for c in classes for n in state.classes.nodes[c].nodes]
    gained = 0
    failures = 0
    while classes and failures < _PERTURB_PATIENCE and not budget.spent():
        ruined = _idle_ruin(state, pool, unit, rng) if rng.random() < _PERTURB_IDLE else None
        if ruined is None:
            c = rng.choice(classes)
            nodes = state.classes.nodes[c].nodes
            ruined = rng.sample(nodes, min(len(nodes), rng.randint(1, 3)))
        else:
            c = state.node_class[ruined[0]]
        state.trial()
        evicted: list[int] = []
        for n in ruined:
            for v in list(state.host[n]):
                if state.where[v] is not None and _evictable(state, v):
                    state.remove(v)
                    evicted.append(v)
        todo = [j for j in eligible[c] if state.where[j] is None]
        if len(todo) > _PERTURB_CANDIDATES:
            # The evicted residents always compete for their room again; a sample of the rest.
            out = set(evicted)
            rest = [j for j in todo if j not in out]
            todo = evicted + rng.sample(
                rest, max(0, min(len(rest), _PERTURB_CANDIDATES - len(out)))
            )
        noise = {j: rng.uniform(0.7, 1.3) for j in todo}
        if trials % 2:
            # Largest first (first-fit decreasing) packs the emptied nodes tightest...
            todo.sort(key=lambda j: (-state.size[j] * noise[j], j))
        else:
            # ... densest first takes the most work per unit of room.
            todo.sort(key=lambda j: (-view.work[j] / (state.size[j] or 1e-9) * noise[j], j))
        misses = Misses(state)
        tried = 0
        for j in todo:
            if not misses.hopeless(j):
                tried += 1
                if not state.place(j):
                    misses.record(j)
        # The budget counts job moves tried: the trial itself was one, each refill another.
        budget.used += max(0, tried - 1)
        gain = state.delta()
        trials += 1
        if gain >= 0:
            state.commit()
            gained += gain
            failures = 0 if gain > 0 else failures + 1
        else:
            state.rollback()
            failures += 1
    return gained
