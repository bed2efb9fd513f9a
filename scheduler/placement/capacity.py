"""Small arithmetic on resource vectors shared by the greedy, the model builder and explanations.

The checker deliberately does not use these: it recomputes loads on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.placement.objective import AssignmentLike
from scheduler.placement.problem import Problem


def resource_norms(p: Problem) -> tuple[int, ...]:
    """Capacity of each resource on the node that has the most of it (0 if no node has any)."""
    return tuple(
        max((cap[r] for cap in p.node_capacity), default=0) for r in range(p.num_resources)
    )


def fit_count(demand: Sequence[int], free: Sequence[int], limit: int) -> int:
    """How many replicas of `demand` fit in `free`, at most `limit`."""
    count = limit
    for d, f in zip(demand, free, strict=True):
        if d > 0:
            count = min(count, max(0, f) // d)
    return count


def shortfall(demand: Sequence[int], free: Sequence[int]) -> tuple[int, ...]:
    """Per resource, how much `free` lacks to hold one replica (0 where it suffices)."""
    return tuple(max(0, d - f) for d, f in zip(demand, free, strict=True))


def fmt_amounts(p: Problem, amounts: Sequence[int]) -> str:
    """'cpu=2000,memory=512' listing the non-zero entries."""
    return ",".join(f"{p.resources[r]}={a}" for r, a in enumerate(amounts) if a)


def leftover(p: Problem, assignment: AssignmentLike) -> list[list[int]]:
    """[N][R] free capacity that remains once `assignment` is placed."""
    free = [list(row) for row in p.node_free]
    for j, nodes in enumerate(assignment):
        if nodes is None:
            continue
        demand = p.job_demand[j]
        for n in nodes:
            row = free[n]
            for r, d in enumerate(demand):
                row[r] -= d
    return free


def eligible_by_group(p: Problem, job: int) -> dict[int, list[int]]:
    """The job's eligible nodes, grouped by group (nodes ascending)."""
    groups: dict[int, list[int]] = {}
    for n in sorted(p.job_eligible[job]):
        groups.setdefault(p.node_group[n], []).append(n)
    return groups


def room_by_group(
    p: Problem, job: int, rows: Sequence[Sequence[int]]
) -> dict[int, list[tuple[int, int]]]:
    """Per eligible group, (node, replicas of the job that fit on it in `rows`) for nodes with room.

    `rows` is `p.node_free` for "now" or `p.node_capacity` for "when empty". A group can hold the
    gang iff the counts add up to its replicas, since each replica needs only one node.
    """
    demand, replicas = p.job_demand[job], p.job_replicas[job]
    out: dict[int, list[tuple[int, int]]] = {}
    for g, nodes in eligible_by_group(p, job).items():
        room = [(n, fit_count(demand, rows[n], replicas)) for n in nodes]
        out[g] = [(n, count) for n, count in room if count > 0]
    return out


def gang_room(room: Sequence[tuple[int, int]], replicas: int) -> int:
    """How many of the gang's replicas the nodes in `room` hold together, at most `replicas`."""
    return min(replicas, sum(count for _, count in room))
