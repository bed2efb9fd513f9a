"""The placement engine: pure (stdlib + ortools + numpy, numba for search/kernel), index-based,
integer.

The scheduler builds a `Problem` (model/problem.py) from its snapshot and calls `solve`
(engine.py); the benchmarks build one from published instances and call the same `solve`, then
judge answers with `check` (judges/verify.py) and `evaluate` (judges/evaluator.py), which share
no code with the engines and never import OR-Tools. Greedy `baselines` and the LP relaxation
bound (`lp_bound`) sit beside the engine so every answer can be measured against both in the
same run.

The parts, one sub-package each (each one's docstring says what it may import):

    model/   the problem, its validation, the params and the outcome: the vocabulary
    judges/  checker, evaluator, explanations: independent of every engine, no OR-Tools
    index/   the problem index every stage shares: facts, classes, node pool, devices, quotas
    greedy/  the greedy rules, the feasibility-first regret start, node fill, warm starts
    lp/      the LP bound and its rounding
    search/  the local searches: packing moves and the reassignment of placed jobs, and the
             compiled kernel (numba) of the reassignment's shift and swap moves
    cpsat/   the CP-SAT model (scope, variables, constraints, objective, solver) and its LNS
    stages/  the stages of one solve: starts and greedy, LP, focused search, reassignment and
             LNS, exact CP-SAT, the outcome; the pool every answer passes through
    engine   solve(): the pipeline of those stages, the best checked answer wins

This module is the public API: import from `scheduler.placement`, not from the sub-packages.
"""

from scheduler.placement import engine
from scheduler.placement.engine import solve
from scheduler.placement.greedy.baselines import BASELINES, best_baseline
from scheduler.placement.index import devices
from scheduler.placement.judges.evaluator import Evaluation, evaluate
from scheduler.placement.judges.scale import job_work, objective_scale
from scheduler.placement.judges.verify import check
from scheduler.placement.lp.bound import LpBound, lp_bound
from scheduler.placement.model.outcome import (
    GANG_INCOMPLETE,
    INSUFFICIENT_CAPACITY,
    NO_ELIGIBLE_NODE,
    NO_FITTING_NODE,
    OUTRANKED,
    QUOTA_EXHAUSTED,
    Outcome,
    Reason,
    Status,
    Timings,
    Unplaced,
)
from scheduler.placement.model.params import EngineParams, Progress, ShouldStop
from scheduler.placement.model.problem import (
    Balance,
    ObjectiveWeights,
    Override,
    Problem,
    Quota,
    Service,
    Solution,
)
from scheduler.placement.model.validate import (
    MAX_COST,
    MAX_RESOURCE_VALUE,
    InvalidProblem,
    validate,
)

__all__ = [
    "BASELINES",
    "GANG_INCOMPLETE",
    "INSUFFICIENT_CAPACITY",
    "MAX_COST",
    "MAX_RESOURCE_VALUE",
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
    "Reason",
    "Service",
    "ShouldStop",
    "Solution",
    "Status",
    "Timings",
    "Unplaced",
    "best_baseline",
    "check",
    "devices",
    "engine",
    "evaluate",
    "job_work",
    "lp_bound",
    "objective_scale",
    "solve",
    "validate",
]
