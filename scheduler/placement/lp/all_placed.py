"""The bound that needs no LP: every job placed, each at the least cost it could have.

With lexicographic weights (`ObjectiveWeights.work` None) one unit of work outweighs every
cost, so no answer scores more than

    U = Ww * (total work) - (W.money * M + W.energy * E) // cost_unit

where M is the least money of an answer that places every job and E the least energy:
  - an answer that places every job has preemption 0, migration, load, balance and
    fragmentation >= 0, money >= M and energy >= E, so its value is at most U;
  - an answer that leaves a job out has at least one unit of work less and a cost >= 0, so its
    value is at most Ww * (total - 1) <= U, because (W.money * M + W.energy * E) // cost_unit
    is below Ww (M and E are at most the upper bounds of money and energy the work weight is
    built from, judges/scale.py).

M: a running job that may not move is placed only where it runs, so it pays its current
nodes. Those jobs all stay in such an answer, so what they use is taken on every node; any other
job pays, per replica, the least money over the (node type, group) pairs of its node set whose
room left by them (capacity less reservations less the unmovable jobs, the most of each
resource over the pair's nodes) holds one replica's demand there. That ignores the other
movable jobs, devices and every relation between replicas: a relaxation, so still a floor.
E: the open cost of the nodes those unmovable jobs occupy.

Why it exists: at city scale the LP bound costs more than the rest of a quiet cycle (a month's
pool: 1,100 jobs of which ~10 queued, LP bound and rounding ~210 of ~260 ms per decision), and
when one greedy pass places the whole queue on the cheapest groups with room, this bound already
proves the answer within the gap target. It says nothing useful when a job cannot be placed:
then the LP decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.scale import ObjectiveScale
from scheduler.placement.model.problem import ObjectiveWeights


def all_placed_bound(
    facts: Facts, weights: ObjectiveWeights, scale: ObjectiveScale, work: Sequence[int]
) -> int | None:
    """U above; None for explicit work weights (a unit of work need not outweigh the costs),
    or when a running job that may not move cannot stay where it runs (no answer places every
    job). `scale` and `work` are the evaluator's for `weights` (judges/scale.py)."""
    if weights.work is not None:
        return None
    p = facts.p
    money = 0
    fixed_nodes: set[int] = set()
    room = [
        [c - r for c, r in zip(cap, res, strict=True)]
        for cap, res in zip(p.node_capacity, facts.reserved, strict=True)
    ]
    movable: list[int] = []
    for j in range(p.num_jobs):
        current = facts.current[j]
        if current is None or facts.migratable(j):
            movable.append(j)
            continue
        eligible = facts.eligible_set(j)
        if not all(n in eligible for n in current):
            return None
        for n in current:
            money += facts.replica_cost(j, n)
            left = room[n]
            for r, d in enumerate(facts.demand(j, n)):
                left[r] -= d
        fixed_nodes.update(current)
    rooms_of_set: dict[int, dict[tuple[int, int], list[int]]] = {}
    for j in movable:
        s = p.job_nodes[j]
        rooms = rooms_of_set.get(s)
        if rooms is None:
            rooms = rooms_of_set[s] = _rooms(facts, room, p.node_sets[s])
        cheapest = min(
            (
                facts.demands.money_on_type(j, t, g)
                for (t, g), most in rooms.items()
                if all(d <= m for d, m in zip(facts.demands.on_type(j, t), most, strict=True))
            ),
            default=None,
        )
        if cheapest is None:
            return None  # no room for one replica anywhere: no answer places every job
        money += p.job_replicas[j] * cheapest
    energy = sum(facts.open_cost[n] for n in fixed_nodes)
    floor = (weights.money * money + weights.energy * energy) // scale.cost_unit
    return scale.work_weight * sum(work) - floor


def _rooms(
    facts: Facts, room: Sequence[Sequence[int]], nodes: Sequence[int]
) -> dict[tuple[int, int], list[int]]:
    """Per (node type, group) of `nodes`: the most room of each resource over its nodes."""
    out: dict[tuple[int, int], list[int]] = {}
    group = facts.p.node_group
    for n in nodes:
        key = (facts.node_type[n], group[n])
        most = out.get(key)
        if most is None:
            out[key] = list(room[n])
        else:
            for r, v in enumerate(room[n]):
                if v > most[r]:
                    most[r] = v
    return out


@dataclass(frozen=True)
class CostFloors:
    """The least load and balance terms of any answer that places every job, unweighted:
    `load[r]` is usage above the safety level of resource r summed over nodes, `balance[b]`
    balance b's shortfall summed over nodes (judges/evaluator.py's terms, split)."""

    load: tuple[int, ...]  # [R]
    balance: tuple[int, ...]  # [B], p.balances' order


def cost_floors(facts: Facts) -> CostFloors:
    """Every node's term at once: sum_n max(0, x_n) >= max(0, sum_n x_n), and with every job
    placed the total usage of resource r lies between `least[r]` (reservations plus each
    replica's smallest demand over node types) and `most[r]` (its largest). So load r is at
    least max(0, least[r] - total safety of r), and balance b (target * avail(r1) - avail(r2)
    per node) at least max(0, target * (capacity(r1) - most[r1]) - (capacity(r2) - least[r2])).
    ROADEF 2012's "aggregate" lower bound is these floors, weighted."""
    p = facts.p
    nr = p.num_resources
    least = [sum(row[r] for row in facts.reserved) for r in range(nr)]
    most = list(least)
    demands = facts.demands
    for j in range(p.num_jobs):
        options = [p.job_demand[j]]
        options += [o.demand for o in demands.by_job.get(j, {}).values() if o.demand is not None]
        k = p.job_replicas[j]
        for r in range(nr):
            least[r] += k * min(d[r] for d in options)
            most[r] += k * max(d[r] for d in options)
    capacity = [sum(row[r] for row in p.node_capacity) for r in range(nr)]
    safety = [sum(row[r] for row in facts.safety) for r in range(nr)]
    load = tuple(max(0, least[r] - safety[r]) for r in range(nr))
    balance = tuple(
        max(0, b.target * (capacity[b.r1] - most[b.r1]) - (capacity[b.r2] - least[b.r2]))
        for b in p.balances
    )
    return CostFloors(load=load, balance=balance)
