"""What a v2 solve returns: status, solution, its evaluation, bounds, timings, reasons, notes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from scheduler.placement.model.problem import Solution

if TYPE_CHECKING:
    from scheduler.placement.judges.evaluator import Evaluation


class Reason(StrEnum):
    """Why a job is left out (Unplaced.reason), most fundamental first (judges/explain.py).

    The engine's own vocabulary: the service maps it to the scheduler's reason codes in one
    table (scheduler.service.explain.SOLVER_REASONS; the same strings where both have one)."""

    NO_ELIGIBLE_NODE = "NO_ELIGIBLE_NODE"
    NO_FITTING_NODE = "NO_FITTING_NODE"
    GANG_INCOMPLETE = "GANG_INCOMPLETE"
    QUOTA_EXHAUSTED = "QUOTA_EXHAUSTED"
    INSUFFICIENT_CAPACITY = "INSUFFICIENT_CAPACITY"
    OUTRANKED = "OUTRANKED"


# The members by their old module-level names (the public API exports them).
NO_ELIGIBLE_NODE = Reason.NO_ELIGIBLE_NODE
NO_FITTING_NODE = Reason.NO_FITTING_NODE
GANG_INCOMPLETE = Reason.GANG_INCOMPLETE
QUOTA_EXHAUSTED = Reason.QUOTA_EXHAUSTED
INSUFFICIENT_CAPACITY = Reason.INSUFFICIENT_CAPACITY
OUTRANKED = Reason.OUTRANKED


class Status(StrEnum):
    OPTIMAL = "OPTIMAL"  # value == upper bound: nothing better exists
    FEASIBLE = "FEASIBLE"  # a checked solution, not proven optimal
    INFEASIBLE = "INFEASIBLE"  # proven: the required jobs cannot all be placed
    UNKNOWN = "UNKNOWN"  # no feasible solution found in time, none proven impossible
    EMPTY = "EMPTY"  # no jobs to place


@dataclass(frozen=True)
class Unplaced:
    """Why one job is not placed by this solution: a reason code, a readable detail, and the
    numbers behind it where there are some (quota used/limit, what the best node lacks)."""

    job: int
    reason: Reason
    detail: str
    resource: str | None = None
    used: int | None = None
    limit: int | None = None
    lacking: tuple[int, ...] = ()  # per resource, what the best candidate node lacks


@dataclass(frozen=True)
class Timings:
    """Milliseconds per stage; stages that did not run stay 0."""

    build_ms: float = 0.0  # validation, facts, model construction
    greedy_ms: float = 0.0
    lp_ms: float = 0.0
    cpsat_ms: float = 0.0
    lns_ms: float = 0.0
    explain_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """Result of one v2 solve.

    `value` is the independent evaluator's value of `solution` (the lower bound), `upper_bound`
    the tighter of the LP bound and CP-SAT's proven bound (never below `value`). `solution` is
    None only for INFEASIBLE and UNKNOWN; whatever it is, the independent checker accepted it.
    `source` names the engine whose answer won (cpsat, lns, lp_round, warm_start, or a baseline).
    """

    status: Status
    solution: Solution | None
    evaluation: Evaluation | None
    upper_bound: int
    greedy_value: int | None
    greedy_name: str | None
    source: str
    timings: Timings
    unplaced: tuple[Unplaced, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def value(self) -> int | None:
        return None if self.evaluation is None else self.evaluation.value

    @property
    def lower_bound(self) -> int | None:
        return self.value

    @property
    def placed(self) -> int:
        if self.solution is None:
            return 0
        return sum(1 for nodes in self.solution.assignment if nodes is not None)

    @property
    def gap(self) -> float | None:
        """(bound - value) / |bound| as a fraction; 0.0 when proven, None without a value."""
        value = self.value
        if value is None:
            return None
        if self.upper_bound <= value:
            return 0.0
        return (self.upper_bound - value) / max(1, abs(self.upper_bound))

    def summary(self) -> str:
        """One line for a log: status, placed, value, bound, gap, vs greedy, source, time."""
        jobs = len(self.solution.assignment) if self.solution is not None else "?"
        parts = [f"{self.status}", f"placed={self.placed}/{jobs}"]
        if self.value is not None:
            parts += [f"value={self.value}", f"bound={self.upper_bound}", f"gap={_pct(self.gap)}"]
        if self.greedy_value is not None:
            parts.append(f"greedy={self.greedy_value}({self.greedy_name})")
        parts += [f"source={self.source}", f"unplaced={len(self.unplaced)}"]
        parts.append(f"time={self.timings.total_ms:.0f}ms")
        if self.notes:
            parts.append(f"notes={len(self.notes)}")
        return " ".join(parts)


def _pct(gap: float | None) -> str:
    if gap is None:
        return "-"
    pct = gap * 100
    # Lexicographic weights make values huge, so a cost-only gap is tiny; never print 0.0%.
    return f"{pct:.1f}%" if pct == 0 or pct >= 0.1 else "<0.1%"
