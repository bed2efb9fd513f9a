"""Moves that make room for one unplaced job: ejection of residents for a single-replica job,
gang placement by eviction in one group, and the shift chains the LP rounding uses too."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from scheduler.placement.search.budget import Budget, evictable, movable, shape_key
from scheduler.placement.search.packing import Packing

# An ejection looks at this many nodes per job, those where it lacks least: scanning the
# residents of every eligible node made one pass take 20 s on the synthetic M city.
_NEAR_NODES = 12


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
        residents = [v for v in state.host[n] if movable(state, v)]
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
    # place_in searches every node of the classes, and leaves nothing behind when the gang does
    # not fit: it is asked again only after an eviction, the only change here that can make
    # the gang fit (asking at every node made this pass quadratic in the nodes: ~1.7 s per
    # cycle with ~2,000 running jobs on the simulated month's 1,000 nodes).
    changed = True
    for _, n in lacks:
        if changed:
            placed = state.place_in(u, cls)
            if placed is not None:
                break
            changed = False
        demand = state.demand(u, n)
        residents = sorted(
            (v for v in state.host[n] if evictable(state, v) and work[v] < w_u),
            key=lambda v: (work[v], v),
        )
        for v in residents:
            if state.room(demand, n) >= 1 or cost + work[v] >= 2 * w_u:
                break
            evicted.append(v)
            cost += work[v]
            state.remove(v)
            changed = True
    else:
        if changed:
            placed = state.place_in(u, cls)
    if not placed:
        state.rollback()
        return 0
    for v in sorted(evicted, key=lambda v: -work[v]):
        state.place(v)
    return state.settle()


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
