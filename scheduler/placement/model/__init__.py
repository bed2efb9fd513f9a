"""The vocabulary of the engine: the problem in, the knobs, the outcome out.

problem.py (`Problem`, `Solution` and their parts), validate.py (the checks every `Problem`
passes at construction: limits.py, validate_nodes.py, validate_jobs.py), params.py
(`EngineParams`, the `Progress` callback) and outcome.py (what `solve` returns). Imports only
the standard library and this package (and the evaluator's `Evaluation` type, which an outcome
carries): every other part of the engine reads it.
"""

from scheduler.placement.model.problem import (
    Balance,
    ObjectiveWeights,
    Override,
    Problem,
    Quota,
    Service,
    Solution,
)

__all__ = ["Balance", "ObjectiveWeights", "Override", "Problem", "Quota", "Service", "Solution"]
