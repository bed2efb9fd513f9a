"""From the LP plan to an integral placement: pack, fill, repair, improve.

1. Targets. The LP says how many jobs of each class go to each group (z) and how their replicas
   spread over the group's node classes (x). Each (class, group) gets round(z) whole jobs
   (oldest members first): a large gang the LP places at 0.9 must be packed with the plan, not
   left to a fill that finds its room taken. Its replicas are shared among the node classes in
   proportion to x (largest remainder).
2. Pack, per node class: required jobs first, then largest first, each replica to the node
   whose most used resource is least used (worst fit). The LP's mix fits the class on
   average; keeping every node near the average is what lets it fit node by node (first fit
   piles the memory-heavy replicas on the first nodes and the cpu-heavy ones on the last and
   wastes both: 20% of the plan failed to pack that way on the synthetic M city, 7% this way).
   When opening nodes costs energy, first fit instead, so that nodes fill one after another.
   What does not fit spills to the group's other eligible node classes; a gang whose replicas
   did not all find a node gives them back.
3. Service members (anti-affinity, spread, affinity) are placed by a greedy that checks their
   relations, and frozen.
4. Fill: required jobs, then the rest of what the LP wants (largest first), then everything
   else by value density (work per share of the pool it takes), best fit.
5. Required jobs still out are placed by shifting others aside, or by evicting optional work.
6. Local search (local_search.py) until the budget is spent or no move helps.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Mapping, Sequence

from scheduler.placement.index.aggregate import View
from scheduler.placement.lp.bound import LpBound
from scheduler.placement.lp.services import place_services
from scheduler.placement.model.params import ShouldStop
from scheduler.placement.model.problem import ObjectiveWeights, Problem, Solution
from scheduler.placement.search.budget import Budget, Misses
from scheduler.placement.search.eject import shift_into
from scheduler.placement.search.local_search import improve_packing
from scheduler.placement.search.packing import Packing

Progress = Callable[[str, Mapping[str, object]], None]

_EPS = 1e-6  # LP values within this of an integer count as that integer
# A job the LP places at least this much is packed with the plan: a large gang at 0.9 left to
# the fill would find its space taken by the small jobs packed before it.
_ROUND_UP = 0.5
# Least used nodes a replica tries before the first-fit sweep takes over.
_SPREAD_TRIES = 8


def lp_round(
    p: Problem,
    weights: ObjectiveWeights,
    lp: LpBound,
    *,
    deadline: float | None = None,
    steps: int | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> Solution | None:
    """A feasible answer built from the LP plan (module docstring), or None when this engine
    cannot give one: the relaxation is infeasible, the running jobs do not fit where they run,
    or a required job stayed unplaced (the orchestrator then needs CP-SAT).

    `deadline` (time.monotonic()) and `steps` (job moves tried: a machine-independent budget)
    bound the local search; without either it runs until no move helps. The caller's
    `should_stop` ends it too (the plan's packing and fill, one pass each, always run).
    """
    start = time.monotonic()
    if lp.value is None:
        return None
    view, classes = lp.view, lp.classes
    state = Packing(view, classes, prices=lp.prices, weights=weights)
    if not state.consistent:
        return None
    packed = _pack_plan(state, lp)
    services = place_services(state)
    filled = _fill(state, lp)
    if progress is not None:
        progress(
            "lp_round_built",
            {
                "packed_jobs": packed,
                "filled_jobs": filled,
                "service_jobs": services,
                "build_s": time.monotonic() - start,
            },
        )
    missing = [j for j in range(p.num_jobs) if view.required[j] and not state.placed(j)]
    if not all(_force(state, j) for j in missing):
        return None
    improve_packing(state, weights, Budget(deadline, steps, should_stop), progress=progress)
    return state.solution()


def _force(state: Packing, j: int) -> bool:
    """Places required job j: by shifting other jobs aside (nothing lost), else by evicting
    movable jobs that are not required from its eligible nodes, least work first, until it
    fits; the evicted then go back wherever they fit."""
    view, p = state.view, state.p
    if shift_into(state, j):
        return True
    for cls in state._groups_by_price(j):
        nodes = [n for c in cls for n in state.classes.nodes[c].nodes]
        near = {v for n in nodes for v in state.host[n]}
        dept = view.department[j]
        if dept in view.quota_departments:
            # A quota may be what blocks: jobs of every department it counts, elsewhere too.
            sharing = {
                d for q in view.scopes.of_department[dept] for d in p.quotas[q].member_departments()
            }
            near.update(v for v in range(p.num_jobs) if view.department[v] in sharing)
        victims = sorted(
            (
                v
                for v in near
                if state.where[v] is not None
                and not state.frozen[v]
                and not view.required[v]
                and v not in view.in_service
            ),
            key=lambda v: (view.work[v], v),
        )
        evicted: list[tuple[int, list[int], list[tuple[int, ...]]]] = []
        placed = False
        for v in victims:
            where, devs = state.where[v], state.devs[v]
            assert where is not None and devs is not None
            evicted.append((v, list(where), list(devs)))
            state.remove(v)
            if state.place(j):
                placed = True
                break
        if placed:
            for v, _, _ in sorted(evicted, key=lambda e: -view.work[e[0]]):
                state.place(v)
            return True
        for v, where, devs in reversed(evicted):
            state.restore(v, where, devs)
    return False


def _pack_plan(state: Packing, lp: LpBound) -> int:
    """Steps 1 and 2 of the module docstring; returns the number of jobs placed."""
    view, classes = state.view, state.classes
    members: list[list[int]] = [
        [j for j in jc.jobs if view.current[j] is None and j not in view.in_service]
        for jc in classes.jobs
    ]
    taken = [0] * len(classes.jobs)
    # Pair indices per (job class, group), in node-class order.
    by_kg: dict[tuple[int, int], list[int]] = {}
    for i, pair in enumerate(lp.pairs):
        g = classes.nodes[pair.node_class].group
        by_kg.setdefault((pair.job_class, g), []).append(i)
    # Replicas to place per node class: (job class, group) -> count.
    wanted: dict[int, list[tuple[int, int, int]]] = {}  # node class -> [(k, g, replicas)]
    jobs_of: dict[tuple[int, int], list[int]] = {}
    for (k, g), z in sorted(lp.jobs.items()):
        t = min(math.floor(z + _ROUND_UP), len(members[k]) - taken[k])
        if t <= 0:
            continue
        jobs_of[k, g] = members[k][taken[k] : taken[k] + t]
        taken[k] += t
        pairs = by_kg[k, g]
        reps = classes.jobs[k].replicas
        split = _apportion(t * reps, [lp.replicas[i] for i in pairs])
        for i, count in zip(pairs, split, strict=True):
            if count:
                wanted.setdefault(lp.pairs[i].node_class, []).append((k, g, count))
    slots: dict[tuple[int, int], list[tuple[int, tuple[int, ...]]]] = {}
    spill: list[tuple[int, int, int]] = []
    for c, items in sorted(wanted.items()):
        spill.extend(_pack_class(state, c, items, slots))
    for k, g, left in spill:
        rep = classes.jobs[k].rep
        for c in _classes_in_group(state, rep, g):
            left = _ffd_nodes(state, c, k, g, left, slots)
            if not left:
                break
    placed = 0
    for (k, g), jobs in sorted(jobs_of.items()):
        got = slots.get((k, g), [])
        reps = classes.jobs[k].replicas
        used = 0
        for j in jobs:
            if used + reps > len(got):
                break
            mine = got[used : used + reps]
            if state.quota_left and not _quota_fits(state, j, [n for n, _ in mine]):
                continue
            used += reps
            state._record(j, [n for n, _ in mine], [d for _, d in mine])
            placed += 1
        for n, devs in got[used:]:
            _release(state, k, n, devs)
    return placed


def _quota_fits(state: Packing, j: int, nodes: Sequence[int]) -> bool:
    need: dict[int, int] = {}
    for n in nodes:
        for q, amount in state.scopes.charges(j, n, state.demand(j, n)):
            need[q] = need.get(q, 0) + amount
    return all(state.quota_left[q] >= amount for q, amount in need.items())


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainder, ties to the first)."""
    mass = sum(max(0.0, w) for w in weights)
    if mass <= 0:
        shares = [total / len(weights)] * len(weights)
    else:
        shares = [total * max(0.0, w) / mass for w in weights]
    out = [math.floor(s + _EPS) for s in shares]
    rest = total - sum(out)
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - out[i]), i))
    for i in order[:rest]:
        out[i] += 1
    return out


def _classes_in_group(state: Packing, j: int, g: int) -> list[int]:
    for group, cls in state.set_groups[state.p.job_nodes[j]]:
        if group == g:
            return cls
    return []


def _claim(state: Packing, demand: Sequence[int], n: int) -> tuple[int, ...]:
    """Takes capacity and devices for one anonymous replica (the caller checked room)."""
    return state.take(n, demand)


def _release(state: Packing, k: int, n: int, devs: tuple[int, ...]) -> None:
    """Gives back one anonymous replica of job class k claimed on node n."""
    view = state.view
    state.give(n, view.demand(state.classes.jobs[k].rep, view.node_type[n]), devs)


def _pack_class(
    state: Packing,
    c: int,
    items: list[tuple[int, int, int]],
    slots: dict[tuple[int, int], list[tuple[int, tuple[int, ...]]]],
) -> list[tuple[int, int, int]]:
    """Packs the replicas `items` = [(job class, group, count)] into the nodes of class c;
    returns what did not fit."""
    view, classes = state.view, state.classes
    nc = classes.nodes[c]
    left = {(k, g): count for k, g, count in items}
    demand_of = {k: view.demand(classes.jobs[k].rep, nc.node_type) for k, _, _ in items}
    free = nc.free
    inv = [1.0 / f if f > 0 else 0.0 for f in free]

    def size(key: tuple[int, int]) -> float:
        return sum(q * i for q, i in zip(demand_of[key[0]], inv, strict=True))

    rest: list[tuple[int, int, int]] = []
    # Required jobs first (a solution without them is no solution), then largest first.
    required = {k for k, _ in left if classes.jobs[k].required}
    order = sorted(left, key=lambda key: (key[0] not in required, -size(key), key))
    if not nc.open_cost:
        _spread(state, c, order, left, demand_of, slots)
    for key in order:
        k, g = key
        remaining = _ffd_nodes(state, c, k, g, left[key], slots)
        if remaining:
            rest.append((k, g, remaining))
    return rest


def _spread(
    state: Packing,
    c: int,
    order: list[tuple[int, int]],
    left: dict[tuple[int, int], int],
    demand_of: dict[int, tuple[int, ...]],
    slots: dict[tuple[int, int], list[tuple[int, tuple[int, ...]]]],
) -> None:
    """Worst fit decreasing: each replica, largest first, to the node whose most used
    resource is least used. The LP's mix fits the class on average, and keeping every node
    near the average is what lets it fit node by node (first fit piles the memory-heavy
    replicas on the first nodes and the cpu-heavy ones on the last, wasting both)."""
    nc = state.classes.nodes[c]
    inv = [1.0 / f if f > 0 else 0.0 for f in nc.free]
    free = state.free

    def load(n: int) -> float:
        return max((f - x) * i for f, x, i in zip(nc.free, free[n], inv, strict=True))

    heap = [(load(n), n) for n in nc.nodes]
    heapq.heapify(heap)
    for key in order:
        demand = demand_of[key[0]]
        got = slots.setdefault(key, [])
        count = left[key]
        while count:
            aside: list[tuple[float, int]] = []
            placed = False
            while heap and len(aside) < _SPREAD_TRIES:
                entry = heapq.heappop(heap)
                n = entry[1]
                if state.room(demand, n) >= 1:
                    got.append((n, _claim(state, demand, n)))
                    heapq.heappush(heap, (load(n), n))
                    count -= 1
                    placed = True
                    break
                aside.append(entry)
            for entry in aside:
                heapq.heappush(heap, entry)
            if not placed:
                break
        left[key] = count


def _ffd_nodes(
    state: Packing,
    c: int,
    k: int,
    g: int,
    count: int,
    slots: dict[tuple[int, int], list[tuple[int, tuple[int, ...]]]],
) -> int:
    """First fit of `count` replicas of class k over the nodes of class c; returns the rest."""
    if count <= 0:
        return 0
    view = state.view
    nc = state.classes.nodes[c]
    demand = view.demand(state.classes.jobs[k].rep, nc.node_type)
    got = slots.setdefault((k, g), [])
    for n in nc.nodes:
        put = min(count, state.room(demand, n))
        for _ in range(put):
            got.append((n, _claim(state, demand, n)))
        count -= put
        if not count:
            break
    return count


def _size(state: Packing, j: int) -> float:
    """Share of the largest node one replica takes, summed over resources."""
    demand = state.view.p.job_demand[j]
    return sum(q * i for q, i in zip(demand, state.inv_cap, strict=True))


def _density(state: Packing, j: int) -> float:
    """Work per unit of the pool a job takes (demand scaled by the largest node capacity)."""
    view = state.view
    demand = view.p.job_demand[j]
    size = sum(q * i for q, i in zip(demand, state.inv_cap, strict=True)) or 1e-9
    return view.work[j] / (view.p.job_replicas[j] * size)


def _fill(state: Packing, lp: LpBound) -> int:
    """Step 3: every unplaced movable job that fits; returns the count.

    Order: first the jobs the LP still wants (the fractional rest of its plan, rounded up),
    then all others; densest first within each.
    """
    view, p = state.view, state.p
    wanted = [0.0] * len(state.classes.jobs)
    for (k, _), z in lp.jobs.items():
        wanted[k] += z
    todo: list[tuple[int, float, int, int]] = []
    for k, jc in enumerate(state.classes.jobs):
        extra = math.ceil(wanted[k] - _EPS) - sum(1 for j in jc.jobs if state.where[j] is not None)
        for j in jc.jobs:
            if state.where[j] is not None or view.current[j] is not None or j in view.in_service:
                continue
            if view.required[j]:
                todo.append((-1, -_size(state, j), p.job_order[j], j))
            elif extra > 0:
                # Jobs the LP chose: all of them are wanted, so largest first packs best.
                todo.append((0, -_size(state, j), p.job_order[j], j))
            else:
                todo.append((1, -_density(state, j), p.job_order[j], j))
            extra -= 1
    todo.sort()
    misses = Misses(state)
    placed = 0
    for _, _, _, j in todo:
        if misses.hopeless(j):
            continue
        if state.place(j):
            placed += 1
        else:
            misses.record(j)
    return placed


__all__ = ["View", "lp_round"]
