"""A cheap upper bound on the objective, valid without any search."""

from __future__ import annotations

from scheduler.placement.capacity import gang_room, room_by_group
from scheduler.placement.objective import Weights
from scheduler.placement.problem import Problem


def simple_bound(p: Problem, w: Weights) -> int:
    """Every job that fits the free capacity on its own, each in its cheapest group that holds it.

    Valid because placed jobs only ever compete for capacity: no assignment places a job that
    does not fit alone, or pays less for it than its cheapest group that could hold it.
    """
    total = 0
    for j in range(p.num_jobs):
        replicas = p.job_replicas[j]
        holding = [
            g
            for g, room in room_by_group(p, j, p.node_free).items()
            if gang_room(room, replicas) == replicas
        ]
        if holding:
            total += max(w.job_value(p, j, g) for g in holding)
    return total
