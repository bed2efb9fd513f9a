"""Demand and money of job j on a node, per-node-type overrides applied (`Demands`).

The one reading of model/problem.py's `Override` that every stage of the engine uses: the
problem facts (facts.py), the job and node classes (aggregate.py), the greedy pass
(greedy/placer.py) and the reassignment search (search/reassign_state.py). The judges keep
their own copy on purpose (judges/usage.py): a misreading here must not hide itself behind
the referee.
"""

from __future__ import annotations

from collections.abc import Iterator

from scheduler.placement.model.problem import Override, Problem


class Demands:
    """Effective per-replica demand and money of a job on a node or node type."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.node_type = p.node_type or (0,) * p.num_nodes
        # job -> node type -> its override. Most jobs have none: a miss here is the hot path.
        self.by_job: dict[int, dict[int, Override]] = {}
        for o in p.overrides:
            self.by_job.setdefault(o.job, {})[o.node_type] = o
        # The jobs with an override on some node type (even one that sets nothing).
        self.overridden = frozenset(self.by_job)
        self._money: dict[tuple[int, int, int], int] = {}

    def on_type(self, j: int, t: int) -> tuple[int, ...]:
        """Per-replica demand of job j on nodes of type t."""
        by_type = self.by_job.get(j)
        if by_type is not None:
            o = by_type.get(t)
            if o is not None and o.demand is not None:
                return o.demand
        return self.p.job_demand[j]

    def on_node(self, j: int, n: int) -> tuple[int, ...]:
        """Per-replica demand of job j on node n."""
        return self.on_type(j, self.node_type[n])

    def money_on_type(self, j: int, t: int, g: int) -> int:
        """Money of one replica of job j on a node of type t in group g: the override's cost,
        else its demand there at the group's prices."""
        by_type = self.by_job.get(j)
        if by_type is not None:
            o = by_type.get(t)
            if o is not None and o.cost is not None:
                return o.cost
        prices = self.p.group_cost[g]
        return sum(d * c for d, c in zip(self.on_type(j, t), prices, strict=True))

    def money(self, j: int, n: int) -> int:
        """Money of one replica of job j on node n (cached per job, type and group)."""
        key = (j, self.node_type[n], self.p.node_group[n])
        cost = self._money.get(key)
        if cost is None:
            cost = self._money[key] = self.money_on_type(j, key[1], key[2])
        return cost

    def setting(self, j: int) -> tuple[tuple[int, tuple[int, ...] | None, int | None], ...]:
        """(node type, demand, cost) of each override of job j that sets something, by type."""
        by_type = self.by_job.get(j)
        if by_type is None:
            return ()
        return tuple(
            (t, o.demand, o.cost)
            for t, o in sorted(by_type.items())
            if o.demand is not None or o.cost is not None
        )

    def demand_overrides(self) -> Iterator[tuple[int, int, tuple[int, ...]]]:
        """(job, node type, demand) of every override that sets a demand, in problem order."""
        return ((o.job, o.node_type, o.demand) for o in self.p.overrides if o.demand is not None)

    def cost_overrides(self) -> Iterator[tuple[int, int, int]]:
        """(job, node type, cost) of every override that sets a cost, in problem order."""
        return ((o.job, o.node_type, o.cost) for o in self.p.overrides if o.cost is not None)
