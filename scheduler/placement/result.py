"""What a solve returns: status, assignment, objective and bound, timings, and why jobs wait."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# [J] node index of each replica of job j (ascending), or None if the job stays unplaced.
Assignment = tuple[tuple[int, ...] | None, ...]

# Reason codes of Unplaced.reason (the same strings as scheduler.domain.reasons, where they exist).
NO_ELIGIBLE_NODE = "NO_ELIGIBLE_NODE"
NO_FITTING_NODE = "NO_FITTING_NODE"
GANG_INCOMPLETE = "GANG_INCOMPLETE"
INSUFFICIENT_CAPACITY = "INSUFFICIENT_CAPACITY"
OUTRANKED = "OUTRANKED"


class Status(StrEnum):
    OPTIMAL = "OPTIMAL"  # objective == bound: nothing better exists
    FEASIBLE = "FEASIBLE"  # CP-SAT's answer (at least as good as greedy), not proven optimal
    GREEDY = "GREEDY"  # the greedy answer: CP-SAT unused, timed out or found nothing better
    EMPTY = "EMPTY"  # no jobs to place


@dataclass(frozen=True)
class Unplaced:
    """Why one job stays queued this cycle: a reason code and a readable detail."""

    job: int
    reason: str
    detail: str


@dataclass(frozen=True)
class Result:
    """Outcome of one solve. `objective` is the independent evaluator's value of `assignment`."""

    status: Status
    assignment: Assignment
    objective: int
    bound: int
    greedy_objective: int
    unplaced: tuple[Unplaced, ...]
    build_ms: float
    solve_ms: float
    # Anything the integrator should log: an engine answer rejected by the checker, a
    # deterministic search cut short by its wall-clock cap. Empty on an ordinary cycle.
    notes: tuple[str, ...] = ()

    @property
    def placed(self) -> int:
        return sum(1 for nodes in self.assignment if nodes is not None)

    @property
    def gap(self) -> float:
        """Relative distance between objective and bound, as a fraction (0.0 when proven)."""
        if self.bound <= self.objective:
            return 0.0
        return (self.bound - self.objective) / max(1, abs(self.bound))

    def summary(self) -> str:
        pct = self.gap * 100
        # BIG makes objectives large, so a cost-only gap is a tiny fraction; do not print 0.0%.
        gap = f"{pct:.1f}%" if pct == 0 or pct >= 0.1 else "<0.1%"
        return (
            f"{self.status} placed {self.placed}/{len(self.assignment)} "
            f"objective={self.objective} bound={self.bound} gap={gap} solve={self.solve_ms:.0f}ms"
        )
