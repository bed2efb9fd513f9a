"""Cost moves, once work is settled: jobs to cheaper groups, and open nodes emptied into others
by chains of swaps (vector bin packing)."""

from __future__ import annotations

from scheduler.placement.search.budget import Budget
from scheduler.placement.search.packing import Packing

# Swaps one node-emptying chain may make before it gives up.
_SWAP_LIMIT = 30


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
