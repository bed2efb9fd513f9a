"""Moves that refill nodes: repack (a node from its residents and the unplaced pool, densest
first) and perturb (ruin and recreate a few nodes at a local optimum)."""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence

from scheduler.placement.search.budget import Budget, Misses, evictable, movable
from scheduler.placement.search.packing import Packing

# Ruin-and-recreate trials in a row without a gain before the perturbation gives up.
_PERTURB_PATIENCE = 400
# Unplaced jobs offered to the emptied nodes per trial (a sample, on large problems).
_PERTURB_CANDIDATES = 300
# Share of the ruins aimed at nodes with idle capacity of value (the rest: any nodes).
_PERTURB_IDLE = 0.5


def repack_pass(state: Packing, budget: Budget) -> int:
    """Node by node: refill the node from its movable single-replica residents and the pool of
    unplaced single-replica jobs, densest first (work per priced unit of demand). Kept when the
    node then holds more work; residents left out become unplaced (other passes may place them
    elsewhere). Returns the work gained."""
    view, p, classes = state.view, state.p, state.classes
    pool: dict[tuple[object, ...], list[int]] = {}
    for j in range(p.num_jobs):
        if state.where[j] is None and movable(state, j):
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
    residents = [v for v in state.host[n] if movable(state, v)]
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
                if state.where[v] is not None and evictable(state, v):
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
