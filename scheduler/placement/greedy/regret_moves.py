"""The moves of the feasibility-first path (regret.py): repair of capacity excess and the
cost descent (shifts, swaps, ejection chains of two), on its dense per-(job, node) arrays.

`node` is the node of every job (a numpy array, changed in place); every function returns the
number of moves it made. A move is only made when it strictly improves (excess first in the
repair, cost in the descent), so each ends; `deadline` (time.perf_counter()), `max_moves` and
the caller's should_stop (`Pairs.should_stop`) may end it sooner.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scheduler.placement.greedy.regret import Pairs

IntArray = npt.NDArray[np.int64]


def loads(a: Pairs, node: IntArray) -> IntArray:
    nn, nr = a.free.shape
    load = np.zeros((nn, nr), dtype=np.int64)
    np.add.at(load, node, a.demand[np.arange(len(node)), node])
    return load


def excess_of(a: Pairs, node: IntArray) -> int:
    return int(np.maximum(loads(a, node) - a.free, 0).sum())


def stop(a: Pairs, deadline: float | None, moves: int, max_moves: int | None) -> bool:
    if max_moves is not None and moves >= max_moves:
        return True
    if a.should_stop is not None and a.should_stop():
        return True
    return deadline is not None and time.perf_counter() >= deadline


def repair(
    a: Pairs, node: IntArray, deadline: float | None = None, max_moves: int | None = None
) -> int:
    """Shifts and swaps that lower the total excess over capacity (ties: the cheaper), out of
    the overloaded nodes, until the excess is 0 or no move lowers it; returns the moves."""
    load = loads(a, node)
    moves = 0
    rows = np.arange(len(node))
    while not stop(a, deadline, moves, max_moves):
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
    load = loads(a, node)
    rows = np.arange(len(node))
    moves = 0
    improved = True
    while improved and not stop(a, deadline, moves, max_moves):
        improved = False
        for j in range(len(node)):
            if stop(a, deadline, moves, max_moves):
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
        if not improved and not stop(a, deadline, moves, max_moves):
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
        if stop(a, deadline, moves, max_moves):
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
