"""Feasibility first, for problems where every job must be placed (generalized assignment).

The greedy rules (baselines.py) take jobs in a fixed order and give up on a job no node has
room for; when every job is required such an answer fails the checker, and on tight instances
(GAP types D and E, capacities at 80% of the mean demand, 80 agents x 1,600 jobs) all of them
failed, and so did everything after them: the engine answered UNKNOWN. Here instead:

1. Regret construction (Martello and Toth's MTHG, "Knapsack problems", 1990, ch. 7): while
   jobs are open, take the job whose best node (by a desirability f, among the nodes it fits)
   beats its second best by the most -- a job that fits one node only first -- and put it
   there. Run with f = cost, f = demand as a share of the node's capacity, and f = cost x that
   share; each run that places everything is a candidate.
2. Repair, when a run leaves jobs that fit nowhere: each goes where it overloads the least, and
   a descent over shifts (one job to another node) and swaps (two jobs on two nodes exchange)
   lowers the total excess over capacity until it is 0 or no move lowers it.
3. Descent on cost: shifts and swaps that lower the cost and keep every node within capacity,
   until none is left (or the deadline / move budget).

Scope (`applies`): every job required, one replica each, no running jobs, services, quotas or
devices, no load or balance cost, and no node opening cost (there the node-centric rules of
node_fill.py are the start): money is then the only cost, so the Lagrangian bound on it bounds
the engine's objective.
Demands with overrides and costs come from `Facts` (cpsat_data.py), as the model reads them;
the engine's checker and evaluator judge the answer like any other candidate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scheduler.placement.cpsat_data import Facts
from scheduler.placement.model import Problem, Solution

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Above this many (job, node, resource) entries the dense arrays cost too much memory.
MAX_ENTRIES = 20_000_000
RULES = ("priced", "cost", "share")
# Subgradient steps of the Lagrangian prices (capacity relaxed) and the Polyak step factor.
_PRICE_STEPS = 1000
_PRICE_THETA = 1.0
_INF = np.inf
_BIG = 1e18  # the regret of a job that fits one node only


def applies(p: Problem) -> bool:
    """Whether this path fits the problem (module docstring)."""
    return (
        p.num_jobs > 0
        and len(p.job_required) == p.num_jobs
        and all(p.job_required)
        and all(r == 1 for r in p.job_replicas)
        and not p.services
        and not p.quotas
        and not any(c is not None for c in p.job_current)
        and not any(p.node_devices)
        and not any(p.node_open_cost)
        and not any(p.load_weight)
        and not p.balances
        and p.num_jobs * p.num_nodes * p.num_resources <= MAX_ENTRIES
    )


@dataclass(frozen=True)
class Result:
    solution: Solution | None  # None: no run reached 0 excess
    rule: str  # the desirability of the run the answer comes from
    excess: int  # the total excess over capacity of the best run (0 when solved)
    cost: int  # the summed replica cost of the answer (-1 without one)
    moves: int  # improving moves made (repair and descent)
    # A lower bound on the summed replica cost of every answer that places all jobs (the
    # Lagrangian's, within 0.01% of the LP's on GAP types C-E at 10 x 200 to 80 x 1,600).
    cost_bound: int | None


class Pairs:
    """Dense per-(job, node) data: eligibility, demand per resource, cost, free capacity."""

    def __init__(self, facts: Facts) -> None:
        p = facts.p
        nj, nn, nr = p.num_jobs, p.num_nodes, p.num_resources
        self.eligible = np.zeros((nj, nn), dtype=bool)
        for s, nodes in enumerate(p.node_sets):
            jobs = [j for j in range(nj) if p.job_nodes[j] == s]
            if jobs and nodes:
                self.eligible[np.ix_(jobs, list(nodes))] = True
        base = np.asarray(p.job_demand, dtype=np.int64).reshape(nj, nr)
        self.demand = np.repeat(base[:, None, :], nn, axis=1)  # [J, N, R]
        node_type = np.asarray(facts.node_type, dtype=np.int64)
        of_type = {int(t): np.flatnonzero(node_type == t) for t in np.unique(node_type)}
        for (j, t), d in facts.override_demand.items():
            nodes_t = of_type.get(t)
            if nodes_t is not None:
                self.demand[j, nodes_t, :] = d
        prices = np.asarray(p.group_cost, dtype=np.int64).reshape(p.num_groups, nr)
        node_price = prices[np.asarray(p.node_group, dtype=np.int64)]  # [N, R]
        self.cost = np.einsum("jnr,nr->jn", self.demand, node_price)
        for (j, t), c in facts.override_cost.items():
            nodes_t = of_type.get(t)
            if nodes_t is not None:
                self.cost[j, nodes_t] = c
        capacity = np.asarray(p.node_capacity, dtype=np.int64).reshape(nn, nr)
        reserved = np.asarray(facts.reserved, dtype=np.int64).reshape(nn, nr)
        self.free = capacity - reserved  # [N, R]
        # Demand as a share of the node's capacity, summed over resources (the size a node
        # sees): where a resource has no capacity, any demand of it is a full share.
        room = np.maximum(self.free, 1)[None, :, :]
        self.share = (self.demand / room).sum(axis=2)
        self.lower_bound = -_INF  # the Lagrangian bound on the cost, once priced

    def desirability(self, rule: str) -> FloatArray:
        """Smaller is better; infinite where the job may not go. `priced`: the cost plus the
        demand at the Lagrangian prices of capacity (`prices`)."""
        cost = self.cost.astype(np.float64)
        if rule == "cost":
            f = cost
        elif rule == "share":
            f = self.share.copy()
        else:
            f = cost + np.einsum("jnr,nr->jn", self.demand, self.prices())
        # Ties (GAP type C: integer costs 10-50 over 80 agents, prices near 0) go to the node
        # the job fills least: a tenth of a cost unit at most.
        out: FloatArray = f + 0.1 * self.share / max(1e-9, float(self.share.max()))
        out[~self.eligible] = _INF
        return out

    def cost_bound(self) -> int | None:
        """`lower_bound` as an integer bound on the cost, with a margin for the float sums;
        None before pricing (or when some job may go nowhere)."""
        if not np.isfinite(self.lower_bound):
            return None
        slack = 1e-9 * float(np.abs(self.cost).sum()) + 1e-6
        return max(0, math.ceil(self.lower_bound - slack))

    def prices(self) -> FloatArray:
        """Prices per node and resource from the Lagrangian relaxation of the capacities:
        each job then goes to the node of least cost + priced demand, and subgradient steps
        (Polyak's, towards the cost of sending every job to its dearest node, the step
        factor halved after 10 steps without progress) raise the price where that
        overloads. Its best value is a
        lower bound on the cost; the prices trade cost against room, which neither the cost
        nor the share alone does (GAP type E: cheap agents are those a job fills most)."""
        nj, nn, nr = self.demand.shape
        demand = self.demand.astype(np.float64)
        cost = np.where(self.eligible, self.cost.astype(np.float64), _INF)
        free = self.free.astype(np.float64)
        rows = np.arange(nj)
        lam = np.zeros((nn, nr))
        best_lam, best_value = lam, -_INF
        target = float(np.where(self.eligible, self.cost, 0).max(axis=1).sum())
        theta = _PRICE_THETA
        quiet = 0
        for _ in range(_PRICE_STEPS):
            reduced = cost + np.einsum("jnr,nr->jn", demand, lam)
            pick = np.argmin(reduced, axis=1)
            value = float(reduced[rows, pick].sum() - (lam * free).sum())
            if value > best_value + 1e-9:
                best_lam, best_value, quiet = lam.copy(), value, 0
            else:
                quiet += 1
                if quiet >= 10:
                    theta, quiet = theta / 2, 0
            used = np.zeros((nn, nr))
            np.add.at(used, pick, demand[rows, pick])
            grad = used - free
            grad[(lam <= 0) & (grad < 0)] = 0.0
            norm = float((grad * grad).sum())
            if norm == 0 or theta < 1e-4:
                break
            step = theta * max(target - value, 1e-6 * abs(target) + 1e-9) / norm
            lam = np.maximum(0.0, lam + step * grad)
        self.lower_bound = best_value
        return best_lam


def regret_start(
    facts: Facts,
    *,
    deadline: float | None = None,
    max_moves: int | None = None,
    stop_by: float | None = None,
) -> Result:
    """The first run that places every job within capacity (module docstring: `priced`
    first, the others only when it fails), repaired and then improved by the descent.
    `deadline` (time.perf_counter()) and `max_moves` bound the descent only: feasibility
    comes first, so the repair (each move lowers the integer excess, so it ends) stops only
    at `stop_by`, the end of the caller's time. The constructions always run (a numpy pass
    per placed job)."""
    a = Pairs(facts)
    best = Result(None, "", -1, -1, 0, None)
    for rule in RULES:
        node = construct(a, a.desirability(rule))
        moves = 0
        excess = excess_of(a, node)
        if excess > 0:
            moves += repair(a, node, stop_by)
            excess = excess_of(a, node)
        if excess > 0:
            if best.excess < 0 or excess < best.excess:
                best = Result(None, rule, excess, -1, moves, a.cost_bound())
            continue
        budget = None if max_moves is None else max(0, max_moves - moves)
        moves += descend(a, node, deadline, budget)
        cost = int(a.cost[np.arange(len(node)), node].sum())
        solution = Solution(assignment=tuple((int(n),) for n in node))
        return Result(solution, rule, 0, cost, moves, a.cost_bound())
    return best


def construct(a: Pairs, f: FloatArray) -> IntArray:
    """MTHG: the open job of largest regret goes to its best fitting node; a job that fits
    nowhere when its turn comes goes where it overloads the least (repair's business)."""
    nj = f.shape[0]
    free = a.free.copy()
    fits = np.all(a.demand <= free[None, :, :], axis=2) & a.eligible
    z = np.where(fits, f, _INF)
    node = np.full(nj, -1, dtype=np.int64)
    open_ = np.ones(nj, dtype=bool)
    b1, v1, b2, v2 = _best_two(z)
    for _ in range(nj):
        with np.errstate(invalid="ignore"):  # inf - inf where a job fits nowhere
            regret = np.where(np.isinf(v2), _BIG, v2 - v1)
        regret[np.isinf(v1)] = -1.0  # fits nowhere now: after every job that still fits
        regret[~open_] = -_INF
        j = int(np.argmax(regret))
        n = _least_overload(a, free, j) if np.isinf(v1[j]) else int(b1[j])
        node[j] = n
        open_[j] = False
        free[n] -= a.demand[j, n]
        # Jobs that no longer fit n lose it; only rows whose best two included n change.
        lost = open_ & np.isfinite(z[:, n]) & np.any(a.demand[:, n, :] > free[n], axis=1)
        if lost.any():
            z[lost, n] = _INF
            rows = np.flatnonzero(lost & ((b1 == n) | (b2 == n)))
            if rows.size:
                b1[rows], v1[rows], b2[rows], v2[rows] = _best_two(z[rows])
    return node


def _best_two(z: FloatArray) -> tuple[IntArray, FloatArray, IntArray, FloatArray]:
    """Per row: the index and value of the smallest and second smallest entry."""
    if z.shape[1] == 1:
        first = np.zeros(z.shape[0], dtype=np.int64)
        return first, z[:, 0].copy(), first, np.full(z.shape[0], _INF)
    part = np.argpartition(z, 1, axis=1)[:, :2]
    rows = np.arange(z.shape[0])
    va, vb = z[rows, part[:, 0]], z[rows, part[:, 1]]
    swap = vb < va
    i1 = np.where(swap, part[:, 1], part[:, 0])
    i2 = np.where(swap, part[:, 0], part[:, 1])
    return i1, z[rows, i1], i2, z[rows, i2]


def _least_overload(a: Pairs, free: IntArray, j: int) -> int:
    """The eligible node where job j's demand exceeds the free room the least (summed over
    resources, as shares of capacity)."""
    over = np.maximum(a.demand[j] - free, 0) / np.maximum(a.free, 1)
    score = np.where(a.eligible[j], over.sum(axis=1), _INF)
    return int(np.argmin(score))


def _loads(a: Pairs, node: IntArray) -> IntArray:
    nn, nr = a.free.shape
    load = np.zeros((nn, nr), dtype=np.int64)
    np.add.at(load, node, a.demand[np.arange(len(node)), node])
    return load


def excess_of(a: Pairs, node: IntArray) -> int:
    return int(np.maximum(_loads(a, node) - a.free, 0).sum())


def _stop(deadline: float | None, moves: int, max_moves: int | None) -> bool:
    if max_moves is not None and moves >= max_moves:
        return True
    return deadline is not None and time.perf_counter() >= deadline


def repair(
    a: Pairs, node: IntArray, deadline: float | None = None, max_moves: int | None = None
) -> int:
    """Shifts and swaps that lower the total excess over capacity (ties: the cheaper), out of
    the overloaded nodes, until the excess is 0 or no move lowers it; returns the moves."""
    load = _loads(a, node)
    moves = 0
    rows = np.arange(len(node))
    while not _stop(deadline, moves, max_moves):
        over = np.maximum(load - a.free, 0)
        if not over.any():
            break
        improved = False
        for j in np.flatnonzero(np.any(over[node] > 0, axis=1)).tolist():
            src = int(node[j])
            d_src = a.demand[j, src]
            before = _node_excess(load, a.free)
            # Shift j anywhere eligible.
            gain_src = before[src] - np.maximum(load[src] - d_src - a.free[src], 0).sum()
            after = np.maximum(load + a.demand[j] - a.free, 0).sum(axis=1)
            gain = gain_src + before - after
            gain[src] = 0
            gain[~a.eligible[j]] = -1
            n = int(np.argmax(gain))
            if gain[n] > 0:
                _shift(load, node, a, j, n)
                moves += 1
                improved = True
                continue
            # Swap j with a job k on another node.
            k = _best_swap(a, load, node, rows, j, excess=True)
            if k >= 0:
                _swap(load, node, a, j, k)
                moves += 1
                improved = True
        if not improved:
            break
    return moves


def _node_excess(load: IntArray, free: IntArray) -> IntArray:
    excess: IntArray = np.maximum(load - free, 0).sum(axis=1)
    return excess


def _shift(load: IntArray, node: IntArray, a: Pairs, j: int, n: int) -> None:
    src = int(node[j])
    load[src] -= a.demand[j, src]
    load[n] += a.demand[j, n]
    node[j] = n


def _swap(load: IntArray, node: IntArray, a: Pairs, j: int, k: int) -> None:
    nj_, nk = int(node[j]), int(node[k])
    load[nj_] += a.demand[k, nj_] - a.demand[j, nj_]
    load[nk] += a.demand[j, nk] - a.demand[k, nk]
    node[j], node[k] = nk, nj_


def _best_swap(
    a: Pairs, load: IntArray, node: IntArray, rows: IntArray, j: int, *, excess: bool
) -> int:
    """The job k to swap with j: with `excess`, the swap that lowers the excess of the two
    nodes the most; else the one that lowers the cost the most keeping both within capacity.
    -1 when no swap improves."""
    src = int(node[j])
    other = node  # node of every k
    ok = (other != src) & a.eligible[rows, src] & a.eligible[j, other]
    # Loads after the swap on j's node (src) and on k's node.
    src_after = load[src][None, :] - a.demand[j, src][None, :] + a.demand[:, src, :]
    dst_after = load[other] - a.demand[rows, other] + a.demand[j, other]
    if excess:
        free_src, free_dst = a.free[src][None, :], a.free[other]
        before = np.maximum(load[src] - a.free[src], 0).sum() + np.maximum(
            load[other] - free_dst, 0
        ).sum(axis=1)
        after = np.maximum(src_after - free_src, 0).sum(axis=1) + np.maximum(
            dst_after - free_dst, 0
        ).sum(axis=1)
        gain = np.where(ok, before - after, 0)
    else:
        fits = np.all(src_after <= a.free[src][None, :], axis=1) & np.all(
            dst_after <= a.free[other], axis=1
        )
        gain = (a.cost[j, src] + a.cost[rows, other]) - (a.cost[j, other] + a.cost[rows, src])
        gain = np.where(ok & fits, gain, 0)
    k = int(np.argmax(gain))
    return k if gain[k] > 0 else -1


def descend(
    a: Pairs, node: IntArray, deadline: float | None = None, max_moves: int | None = None
) -> int:
    """Cost-lowering shifts, then swaps, job by job, every node kept within capacity; when a
    pass improves nothing, chains (`_chain_pass`); until neither improves. Returns the moves
    made (a chain counts once)."""
    load = _loads(a, node)
    rows = np.arange(len(node))
    moves = 0
    improved = True
    while improved and not _stop(deadline, moves, max_moves):
        improved = False
        for j in range(len(node)):
            if _stop(deadline, moves, max_moves):
                break
            src = int(node[j])
            room = a.free - load  # [N, R]
            fits = np.all(a.demand[j] <= room, axis=1) & a.eligible[j]
            fits[src] = False
            if fits.any():
                gain = np.where(fits, a.cost[j, src] - a.cost[j], 0)
                n = int(np.argmax(gain))
                if gain[n] > 0:
                    _shift(load, node, a, j, n)
                    moves += 1
                    improved = True
                    continue
            k = _best_swap(a, load, node, rows, j, excess=False)
            if k >= 0:
                _swap(load, node, a, j, k)
                moves += 1
                improved = True
        if not improved and not _stop(deadline, moves, max_moves):
            chained = _chain_pass(
                a, node, load, deadline, None if max_moves is None else max_moves - moves
            )
            moves += chained
            improved = chained > 0
    return moves


def _chain_pass(
    a: Pairs, node: IntArray, load: IntArray, deadline: float | None, max_moves: int | None
) -> int:
    """Ejection chains of length two, job by job: j goes to node b where it is cheaper but
    does not fit, and a job k on b makes room by going to the node it fits best elsewhere
    (j's own node included, which j leaves). Measured on GAP type D, 80 x 1,600: shifts and
    swaps stop at 1.58% above the LP bound, the chains take that further (README)."""
    rows = np.arange(len(node))
    moves = 0
    big = np.iinfo(np.int64).max // 4
    alt, alt_cost = _alternatives(a, node, load, rows, big)
    for j in range(len(node)):
        if _stop(deadline, moves, max_moves):
            break
        src = int(node[j])
        b = node  # node of every k
        room = a.free - load
        # j fits b once k has left it; k has somewhere else to go; j is cheaper on b.
        ok = (
            (b != src)
            & a.eligible[j, b]
            & (alt_cost < big)
            & np.all(a.demand[j, b] <= room[b] + a.demand[rows, b], axis=1)
        )
        gain = np.where(ok, (a.cost[j, src] - a.cost[j, b]) + (a.cost[rows, b] - alt_cost), 0)
        k = int(np.argmax(gain))
        if gain[k] <= 0:
            continue
        target = int(b[k])
        _shift(load, node, a, k, int(alt[k]))
        _shift(load, node, a, j, target)
        moves += 1
        alt, alt_cost = _alternatives(a, node, load, rows, big)
    return moves


def _alternatives(
    a: Pairs, node: IntArray, load: IntArray, rows: IntArray, big: int
) -> tuple[IntArray, IntArray]:
    """Per job, the cheapest other node it fits now, and that cost (`big` where none)."""
    room = a.free - load
    fits = np.all(a.demand <= room[None, :, :], axis=2) & a.eligible
    fits[rows, node] = False
    cost = np.where(fits, a.cost, big)
    alt = np.argmin(cost, axis=1)
    return alt, cost[rows, alt]
