"""The placement engine of the scheduling cycle: pure (stdlib + ortools), index-based, integer.

The scheduler builds a `Problem` from its snapshot and calls `solve`; benchmarks call the same
`solve` and judge answers with `check` and `evaluate`, which share no code with the engines.
"""

from scheduler.placement.checker import check
from scheduler.placement.greedy import GreedyRule, greedy
from scheduler.placement.objective import evaluate
from scheduler.placement.params import Progress, SolveParams
from scheduler.placement.problem import InvalidProblem, Problem
from scheduler.placement.result import (
    GANG_INCOMPLETE,
    INSUFFICIENT_CAPACITY,
    NO_ELIGIBLE_NODE,
    NO_FITTING_NODE,
    OUTRANKED,
    Assignment,
    Result,
    Status,
    Unplaced,
)
from scheduler.placement.solve import solve

__all__ = [
    "GANG_INCOMPLETE",
    "INSUFFICIENT_CAPACITY",
    "NO_ELIGIBLE_NODE",
    "NO_FITTING_NODE",
    "OUTRANKED",
    "Assignment",
    "GreedyRule",
    "InvalidProblem",
    "Problem",
    "Progress",
    "Result",
    "SolveParams",
    "Status",
    "Unplaced",
    "check",
    "evaluate",
    "greedy",
    "solve",
]
