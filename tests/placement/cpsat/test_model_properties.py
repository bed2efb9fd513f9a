"""Property tests of the exact model on small random problems: soundness and invariances."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.solver import CpSatModel
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.scale import job_work
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem
from tests.placement.cpsat.helpers import LIMITS
from tests.placement.cpsat.strategies import problems, relabel

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _exact(p: Problem) -> tuple[str, int | None, int | None]:
    """Status, model objective and evaluator value of the exact model's answer."""
    weights = ObjectiveWeights()
    result = CpSatModel(Facts(p), TermWeights.of(p, weights), job_work(p)).solve(LIMITS)
    if result.solution is None:
        return result.status, None, None
    assert check(p, result.solution) == []
    return result.status, result.objective, evaluate(p, result.solution, weights).value


@SETTINGS
@given(problems())
def test_model_objective_is_the_evaluators(p: Problem) -> None:
    """Every exact-model answer passes the checker; at the optimum the model's objective is the
    evaluator's value, and before it never above it."""
    status, objective, value = _exact(p)
    if status == "OPTIMAL":
        assert objective == value
    elif objective is not None and value is not None:
        assert objective <= value


@SETTINGS
@given(problems(max_nodes=3, max_jobs=4), st.randoms(use_true_random=False))
def test_relabelling_nodes_keeps_the_optimum(p: Problem, rng: object) -> None:
    """Renaming the nodes changes nothing that matters: the optimal value is the same."""
    order = list(range(p.num_nodes))
    rng.shuffle(order)  # type: ignore[attr-defined]
    status, _, value = _exact(p)
    status2, _, value2 = _exact(relabel(p, order))
    assume(status == "OPTIMAL" and status2 == "OPTIMAL")
    assert value == value2
