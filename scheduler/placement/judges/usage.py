"""Per-replica demands, per-node usage and moved replicas: the accounting of the two judges.

Shared by the checker (verify.py) and the evaluator (evaluator.py) so both read model/problem.py
the same way; the engines and the baselines deliberately do not use it, so a misreading there
cannot hide itself behind the referee. Pure stdlib.

`Demands` below is, on purpose, a second reading of "demand of job j on node n, with overrides"
beside the engine's one (index/demands.py): the judges are the independent checker, so they
must not share it. Keep the two apart; a fix to one is checked against the other by the tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Override, Problem

SHARES_PER_DEVICE = 1000


class Demands:
    """Effective demand and replica price of a job on a node (model/problem.py: Override)."""

    def __init__(self, p: Problem) -> None:
        self._p = p
        self._types = p.node_type
        self._overrides: dict[tuple[int, int], Override] = {
            (o.job, o.node_type): o for o in p.overrides
        }
        # Most jobs have no override: a set lookup spares the tuple key on the hot path.
        self._jobs = {o.job for o in p.overrides}

    def override(self, job: int, node: int) -> Override | None:
        if job not in self._jobs:
            return None
        return self._overrides.get((job, self._types[node] if self._types else 0))

    def demand(self, job: int, node: int) -> tuple[int, ...]:
        """What one replica of `job` uses on `node`."""
        o = self.override(job, node)
        if o is not None and o.demand is not None:
            return o.demand
        return self._p.job_demand[job]

    def price(self, job: int, node: int) -> int:
        """Money cost of one replica of `job` on `node`: the override cost, else demand x price."""
        o = self.override(job, node)
        if o is not None and o.cost is not None:
            return o.cost
        demand = o.demand if o is not None and o.demand is not None else self._p.job_demand[job]
        prices = self._p.group_cost[self._p.node_group[node]]
        return sum(d * c for d, c in zip(demand, prices, strict=True))


def moved_apart(old: Sequence[int], new: Sequence[int]) -> tuple[list[int], list[int]]:
    """(nodes left, nodes arrived) beyond the multiset intersection of `old` and `new`.

    Replicas are interchangeable, so the replicas that stay are as many as old and new have in
    common (model/problem.py: the smallest number of moves over all matchings); the rest moved,
    from the first list to the second, which have equal lengths. Both lists are ascending.
    """
    if len(old) == 1 and len(new) == 1:
        return ([], []) if old[0] == new[0] else ([old[0]], [new[0]])
    balance = Counter(old)
    balance.subtract(new)
    gone = sorted(n for n, c in balance.items() for _ in range(c) if c > 0)
    came = sorted(n for n, c in balance.items() for _ in range(-c) if c < 0)
    return gone, came


def placed_jobs(
    assignment: Sequence[Sequence[int] | None],
) -> Iterable[tuple[int, Sequence[int]]]:
    """(job, nodes) for every job the assignment places."""
    return ((j, nodes) for j, nodes in enumerate(assignment) if nodes is not None)


def node_usage(
    p: Problem, demands: Demands, assignment: Sequence[Sequence[int] | None]
) -> list[list[int]]:
    """[N][R] reserved usage plus the demand of every placed replica (no transient usage)."""
    used = [list(row) for row in p.node_reserved] or [
        [0] * p.num_resources for _ in range(p.num_nodes)
    ]
    for j, nodes in placed_jobs(assignment):
        for n in nodes:
            row = used[n]
            for r, d in enumerate(demands.demand(j, n)):
                if d:
                    row[r] += d
    return used


def transient_usage(
    p: Problem, demands: Demands, assignment: Sequence[Sequence[int] | None]
) -> list[list[int]]:
    """[N][R] usage still held on the nodes that moved replicas left, for transient resources.

    A moved replica holds its demand (as on its old node, overrides included) there during the
    move (ROADEF transient usage). An evicted job holds nothing: it stops, it does not move.
    """
    held = [[0] * p.num_resources for _ in range(p.num_nodes)]
    if not any(p.transient) or not p.job_current:
        return held
    flags = p.transient
    for j, nodes in placed_jobs(assignment):
        current = p.job_current[j]
        if current is None:
            continue
        gone, _ = moved_apart(current, nodes)
        for n in gone:
            row = held[n]
            for r, d in enumerate(demands.demand(j, n)):
                if d and flags[r]:
                    row[r] += d
    return held


def device_count(share: int) -> int:
    """Devices one replica's GPU demand takes on a node with devices: 0, 1 (a share) or q/1000."""
    if share <= 0:
        return 0
    if share % SHARES_PER_DEVICE == 0:
        return share // SHARES_PER_DEVICE
    return 1
