"""The placement engine: pure (stdlib + ortools), index-based, integer.

The scheduler builds a `Problem` (model.py) from its snapshot and calls `solve`; the benchmarks
build one from published instances and call the same `solve`, then judge answers with `check`
(verify.py) and `evaluate` (evaluator.py), which share no code with the engines and never import
OR-Tools. Greedy `baselines` and the LP relaxation bound (`lp_bound`) sit beside the engine so
every answer can be measured against both in the same run.
"""

from scheduler.placement.baselines import BASELINES, best_baseline
from scheduler.placement.engine import solve
from scheduler.placement.evaluator import Evaluation, evaluate
from scheduler.placement.lp_bound import LpBound, lp_bound
from scheduler.placement.model import (
    Balance,
    ObjectiveWeights,
    Override,
    Problem,
    Quota,
    Service,
    Solution,
)
from scheduler.placement.outcome import (
    GANG_INCOMPLETE,
    INSUFFICIENT_CAPACITY,
    NO_ELIGIBLE_NODE,
    NO_FITTING_NODE,
    OUTRANKED,
    QUOTA_EXHAUSTED,
    Outcome,
    Status,
    Timings,
    Unplaced,
)
from scheduler.placement.settings import EngineParams, Progress
from scheduler.placement.validate import InvalidProblem
from scheduler.placement.verify import check

__all__ = [
    "BASELINES",
    "GANG_INCOMPLETE",
    "INSUFFICIENT_CAPACITY",
    "NO_ELIGIBLE_NODE",
    "NO_FITTING_NODE",
    "OUTRANKED",
    "QUOTA_EXHAUSTED",
    "Balance",
    "EngineParams",
    "Evaluation",
    "InvalidProblem",
    "LpBound",
    "ObjectiveWeights",
    "Outcome",
    "Override",
    "Problem",
    "Progress",
    "Quota",
    "Service",
    "Solution",
    "Status",
    "Timings",
    "Unplaced",
    "best_baseline",
    "check",
    "evaluate",
    "lp_bound",
    "solve",
]
