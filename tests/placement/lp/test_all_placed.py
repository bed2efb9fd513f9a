"""The all-placed bound (lp/all_placed.py): hand-worked values, and never below an optimum."""

from __future__ import annotations

import pytest

from benchmarks.synthetic import Spec, churn, generate
from scheduler.placement import engine
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.scale import ObjectiveScale, job_work, scale_of
from scheduler.placement.lp.all_placed import all_placed_bound
from scheduler.placement.model import ObjectiveWeights, Problem
from scheduler.placement.model.params import EngineParams
from tests.placement.cpsat.helpers import exact, tiny

LEXICOGRAPHIC = ObjectiveWeights()


def _bound(p: Problem, weights: ObjectiveWeights = LEXICOGRAPHIC) -> tuple[int | None, int]:
    """The bound, and the work part of it (work weight x total work)."""
    work = job_work(p)
    scale: ObjectiveScale = scale_of(p, weights, work)
    return all_placed_bound(Facts(p), weights, scale, work), scale.work_weight * sum(work)


def _two_prices(**changes: object) -> Problem:
    """Node 0 in a dear group (3 per CPU), node 1 in a cheap one (1 per CPU); 4 CPUs each."""
    return tiny(node_group=(0, 1), group_cost=((3, 0), (1, 0)), **changes)


def test_every_job_at_its_cheapest_group_is_the_optimum() -> None:
    """Two one-CPU jobs: both fit on the cheap node, so the floor is 2 x 1 and the exact
    optimum reaches it."""
    p = _two_prices(job_demand=((1, 1), (1, 1)))
    bound, work_part = _bound(p)
    assert bound == work_part - 2
    _, evaluation = exact(p)
    assert evaluation.value == bound


def test_room_taken_by_work_that_may_not_move_counts() -> None:
    """A running job that may not move fills the cheap node: it pays 4 x 1 there, and the
    queued job's cheapest room is the dear node (3), so the floor is 7, not 5, and it is the
    optimum."""
    p = _two_prices(job_demand=((4, 8), (1, 1)), job_current=((1,), None))
    bound, work_part = _bound(p)
    assert bound == work_part - 7
    _, evaluation = exact(p)
    assert evaluation.value == bound


def test_no_bound_for_explicit_work_weights() -> None:
    """With an explicit work weight a unit of work need not outweigh the costs."""
    p = _two_prices(job_demand=((1, 1),))
    assert _bound(p, ObjectiveWeights(work=1))[0] is None


def test_no_bound_when_work_that_may_not_move_lost_its_node() -> None:
    """A running job whose node left its node set cannot stay: no answer places every job."""
    p = _two_prices(
        job_demand=((1, 1),), node_sets=((0, 1), (0,)), job_nodes=(1,), job_current=((1,),)
    )
    assert _bound(p)[0] is None


def test_no_bound_when_a_job_fits_nowhere() -> None:
    """A job larger than any node's room (after the unmovable work) has nowhere to go."""
    p = _two_prices(job_demand=((4, 8), (4, 8), (4, 8)), job_current=((0,), (1,), None))
    assert _bound(p)[0] is None


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_never_below_the_engine_on_synthetic_cities(seed: int) -> None:
    """On small synthetic cities, cold and after churn (running work that may not move), no
    answer the engine finds scores above the bound; where the engine places every job the
    bound is close to its value (within 5% of the cost)."""
    spec = Spec("T", jobs=40, nodes=8, clusters=2, regions=1, departments=2, demand_ratio=0.6)
    city = generate(spec, seed)
    params = EngineParams(time_limit_s=1.0, seed=seed)
    first = engine.solve(city, params=params)
    assert first.solution is not None
    nxt, warm = churn(city, first.solution, 0.1, seed)
    for p, outcome in ((city, first), (nxt, engine.solve(nxt, params=params, warm_start=warm))):
        bound, work_part = _bound(p)
        assert outcome.value is not None
        if bound is None:
            continue
        assert outcome.value <= bound
        if outcome.placed == p.num_jobs:
            cost, floor = work_part - outcome.value, work_part - bound
            assert cost - floor <= 0.05 * max(1, cost)
