"""Why each unplaced job waits: the most fundamental reason first, with the detail to act on.

The checks go from "can never run as specified" to "lost the race this cycle", so the reason
tells the submitter whether to change the job (NO_ELIGIBLE_NODE, NO_FITTING_NODE,
GANG_INCOMPLETE) or just wait (INSUFFICIENT_CAPACITY, OUTRANKED).
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.placement.capacity import (
    eligible_by_group,
    fit_count,
    fmt_amounts,
    gang_room,
    resource_norms,
    room_by_group,
    shortfall,
)
from scheduler.placement.greedy import rank
from scheduler.placement.objective import AssignmentLike
from scheduler.placement.problem import Problem
from scheduler.placement.result import (
    GANG_INCOMPLETE,
    INSUFFICIENT_CAPACITY,
    NO_ELIGIBLE_NODE,
    NO_FITTING_NODE,
    OUTRANKED,
    Unplaced,
)


def explain(p: Problem, assignment: AssignmentLike) -> tuple[Unplaced, ...]:
    """One Unplaced per job that `assignment` leaves out, in job index order."""
    if all(nodes is not None for nodes in assignment):
        return ()
    explainer = _Explainer(p, assignment)
    return tuple(explainer.why(j) for j, nodes in enumerate(assignment) if nodes is None)


class _Explainer:
    def __init__(self, p: Problem, assignment: AssignmentLike) -> None:
        self.p = p
        self.assignment = assignment
        self.norms = resource_norms(p)
        self.position = {j: i for i, j in enumerate(rank(p))}
        # Computed once: only OUTRANKED needs who sits where.
        self._occupants: dict[int, list[int]] | None = None

    def why(self, j: int) -> Unplaced:
        p = self.p
        demand, replicas = p.job_demand[j], p.job_replicas[j]
        if not p.job_eligible[j]:
            return Unplaced(j, NO_ELIGIBLE_NODE, "no node passes the job's constraints")
        if not any(fit_count(demand, p.node_capacity[n], 1) for n in p.job_eligible[j]):
            closest = self._closest(demand, p.job_eligible[j], p.node_capacity)
            return Unplaced(
                j,
                NO_FITTING_NODE,
                f"no eligible node holds one replica ({fmt_amounts(p, demand)}) even when empty; "
                f"closest {p.node_label(closest)} short "
                f"{fmt_amounts(p, shortfall(demand, p.node_capacity[closest]))}",
            )
        by_group = eligible_by_group(p, j)
        idle = {g: gang_room(r, replicas) for g, r in room_by_group(p, j, p.node_capacity).items()}
        best_idle = max(idle, key=lambda g: (idle[g], -g))
        if idle[best_idle] < replicas:
            return Unplaced(
                j,
                GANG_INCOMPLETE,
                f"needs {replicas} replicas in one group; the best, {p.group_label(best_idle)}, "
                f"holds {idle[best_idle]} even when empty",
            )
        now = {g: gang_room(r, replicas) for g, r in room_by_group(p, j, p.node_free).items()}
        held = [g for g in sorted(by_group) if now[g] >= replicas]
        if held:
            return self._outranked(j, held, by_group)
        return self._insufficient(j, [g for g in sorted(by_group) if idle[g] >= replicas], now)

    def _closest(
        self, demand: Sequence[int], nodes: Sequence[int], rows: Sequence[Sequence[int]]
    ) -> int:
        """The node whose `rows` entry lacks least for one replica (normalised, summed)."""

        def missing(n: int) -> tuple[int, int]:
            short = shortfall(demand, rows[n])
            scaled = sum(s * 1000 // m for s, m in zip(short, self.norms, strict=True) if m)
            return scaled, n

        return min(nodes, key=missing)

    def _insufficient(self, j: int, idle_groups: list[int], now: dict[int, int]) -> Unplaced:
        p = self.p
        demand, replicas = p.job_demand[j], p.job_replicas[j]
        best = max(idle_groups, key=lambda g: (now[g], -g))
        where = f"fits {p.group_label(best)} when idle, but not the capacity free now"
        if now[best] > 0:
            detail = f"{where}: it holds {now[best]} of {replicas} replicas"
        else:
            nodes = [n for g in idle_groups for n in p.job_eligible[j] if p.node_group[n] == g]
            closest = self._closest(demand, nodes, p.node_free)
            detail = (
                f"{where}; best {p.node_label(closest)} short "
                f"{fmt_amounts(p, shortfall(demand, p.node_free[closest]))}"
            )
        return Unplaced(j, INSUFFICIENT_CAPACITY, detail)

    def _outranked(self, j: int, held: list[int], by_group: dict[int, list[int]]) -> Unplaced:
        p = self.p
        occupants = self._occupancy()
        # Prefer naming a job that ranks above this one: that is the one the submitter can see
        # as the reason; any occupant of the contested nodes is a fair answer otherwise.
        candidates = [
            (0 if self.position[k] < self.position[j] else 1, self.position[k], k, n, g)
            for g in held
            for n in by_group[g]
            for k in occupants.get(n, ())
        ]
        if not candidates:
            where = f"free capacity at cycle start held it in {p.group_label(held[0])}"
            return Unplaced(j, OUTRANKED, f"{where}, but this solution left it out")
        _, _, k, n, g = min(candidates)
        return Unplaced(
            j,
            OUTRANKED,
            f"free capacity at cycle start held it in {p.group_label(g)}; taken this cycle by "
            f"job {k} (priority {p.job_priority[k]}) on {p.node_label(n)}",
        )

    def _occupancy(self) -> dict[int, list[int]]:
        if self._occupants is None:
            self._occupants = {}
            for k, nodes in enumerate(self.assignment):
                for n in sorted(set(nodes or ())):
                    self._occupants.setdefault(n, []).append(k)
        return self._occupants
