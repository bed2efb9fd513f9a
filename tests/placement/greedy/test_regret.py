"""The feasibility-first path where every job is required (regret.py, regret_moves.py): regret
construction, repair, descent, the Lagrangian cost bound, and the engine's use of them."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from benchmarks.tracks import gap
from benchmarks.tracks import gap_generate as gen
from scheduler.placement import engine
from scheduler.placement.greedy.baselines import BASELINES
from scheduler.placement.greedy.regret import Pairs, applies, construct, regret_start
from scheduler.placement.greedy.regret_moves import descend, excess_of, repair
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.verify import check
from scheduler.placement.lp.bound import lp_bound
from scheduler.placement.lp.rounding import lp_round
from scheduler.placement.model import ObjectiveWeights, Problem
from scheduler.placement.model.outcome import Status
from scheduler.placement.model.params import EngineParams

# Type C, 20 agents x 200 jobs, seed 2: every greedy rule and the LP rounding leave a required
# job out, so before the regret start only CP-SAT on the whole model could answer.
TIGHT = ("c", 20, 200, 2)


def _gap(cost: list[list[int]], weight: list[list[int]], capacity: list[int]) -> Problem:
    inst = gap.Instance("t", tuple(map(tuple, cost)), tuple(map(tuple, weight)), tuple(capacity))
    return gap.to_problem(inst)


def _cost(p: Problem, node: np.ndarray) -> int:
    return int(Pairs(Facts(p)).cost[np.arange(len(node)), node].sum())


def test_regret_places_the_job_with_one_fitting_agent_first() -> None:
    """Job 0 fits agent 0 only; job 1 is cheaper there but fits both: by cost alone job 1
    would take agent 0 and leave job 0 nowhere, by regret job 0 goes first."""
    p = _gap(cost=[[5, 1], [1, 9]], weight=[[10, 8], [20, 8]], capacity=[10, 10])
    a = Pairs(Facts(p))
    node = construct(a, a.desirability("cost"))
    assert node.tolist() == [0, 1]
    result = regret_start(Facts(p))
    assert result.solution is not None and check(p, result.solution) == []
    assert result.solution.assignment == ((0,), (1,))


def test_repair_swaps_jobs_out_of_an_overloaded_agent() -> None:
    """Jobs of 6, 6, 4, 4 on two agents of 10: 6+6 on one overloads it by 2, and no single
    shift helps (it overloads the other by 4); one swap of a 6 and a 4 fits both."""
    p = _gap(cost=[[1] * 4, [1] * 4], weight=[[6, 6, 4, 4], [6, 6, 4, 4]], capacity=[10, 10])
    a = Pairs(Facts(p))
    node = np.array([0, 0, 1, 1])
    assert excess_of(a, node) == 2
    assert repair(a, node) == 1
    assert excess_of(a, node) == 0
    assert sorted(node.tolist()[:2]) == [0, 1]


def test_descent_swaps_to_a_cheaper_answer_within_capacity() -> None:
    """Two jobs each filling an agent, each on its dear agent (9 + 9): no shift fits, the
    swap costs 1 + 1."""
    p = _gap(cost=[[9, 1], [1, 9]], weight=[[5, 5], [5, 5]], capacity=[5, 5])
    a = Pairs(Facts(p))
    node = np.array([0, 1])
    assert descend(a, node) == 1
    assert node.tolist() == [1, 0]
    assert excess_of(a, node) == 0
    assert _cost(p, node) == 2


def test_cost_bound_and_answer_bracket_the_optimum() -> None:
    """On small generated instances of every type the Lagrangian cost bound is at most the
    optimum (by enumeration) and the regret answer, checked, at least it."""
    for kind in gen.TYPES:
        inst = gen.generate(kind, 3, 7, seed=4)
        p = gap.to_problem(inst)
        best = None
        for agents in itertools.product(range(3), repeat=7):
            verdict = gap.evaluate(inst, gap.GapSolution(agents))
            if verdict.feasible and (best is None or verdict.objective < best):
                best = int(verdict.objective)
        result = regret_start(Facts(p))
        assert best is not None and result.cost_bound is not None
        assert result.cost_bound <= best, kind
        if result.solution is not None:
            assert check(p, result.solution) == []
            assert result.cost >= best


def test_applies_only_where_every_job_is_required() -> None:
    """A GAP problem qualifies; the same with one job optional does not."""
    p = gap.to_problem(gen.generate("d", 3, 6, seed=1))
    assert applies(p)
    assert not applies(replace(p, job_required=(False,) + (True,) * 5))


def test_regret_answers_where_greedy_and_lp_rounding_fail() -> None:
    """On the tight instance every greedy rule and the LP rounding leave a required job out
    (the checker rejects them); the regret start places every job, checked."""
    p = gap.to_problem(gen.generate(*TIGHT))
    weights = ObjectiveWeights()
    for name, rule in BASELINES.items():
        assert check(p, rule(p)), name
    bound = lp_bound(p, weights, time_limit_s=60)
    rounded = lp_round(p, weights, bound, steps=2_000)
    assert rounded is None or check(p, rounded)
    result = regret_start(Facts(p))
    assert result.solution is not None and check(p, result.solution) == []
    assert result.excess == 0 and result.cost_bound is not None
    assert result.cost_bound <= result.cost


def _events(p: Problem, params: EngineParams) -> tuple[engine.Outcome, list[str]]:
    seen: list[str] = []

    def progress(event: str, fields: Mapping[str, object]) -> None:
        seen.append(event)

    return engine.solve(p, params=params, progress=progress), seen


def test_engine_starts_from_the_regret_answer_on_the_tight_instance() -> None:
    """The engine answers the tight instance with a checked placement of every job, from the
    regret start on, and its bound (the priced one: the LP is skipped) is above the value."""
    p = gap.to_problem(gen.generate(*TIGHT))
    outcome, seen = _events(p, EngineParams(time_limit_s=1.0, seed=3))
    assert outcome.status in (Status.FEASIBLE, Status.OPTIMAL)
    assert outcome.solution is not None and check(p, outcome.solution) == []
    assert outcome.placed == p.num_jobs
    # The regret answer places every job, so the all-placed bound is tried before the next
    # stage (the regret's priced bound is the tighter one).
    assert seen[:3] == ["regret_done", "all_placed_bound", "baselines_skipped"]
    assert "lp_skipped" in seen and "lp_done" not in seen
    assert outcome.value is not None and outcome.upper_bound >= outcome.value


def test_engine_without_required_jobs_runs_no_regret_stage() -> None:
    """The same instance with every job optional goes the old way: baselines first, no
    regret stage."""
    p = gap.to_problem(gen.generate("d", 5, 40, seed=1))
    optional = replace(p, job_required=(False,) * p.num_jobs)
    _, seen = _events(optional, EngineParams(time_limit_s=0.5))
    assert seen[0] == "baselines_done"
    assert "regret_done" not in seen


def test_descent_chains_a_job_out_to_make_room() -> None:
    """Job 0 would save 9 on agent 1, where job 1 fills it; swapping costs more (job 1 is
    dear on agent 0) and no shift saves, but job 1 to the empty agent 2 (+1) and job 0 to
    agent 1 (-9) does: a chain."""
    p = _gap(
        cost=[[10, 50], [1, 1], [20, 2]],
        weight=[[10, 10], [10, 10], [10, 10]],
        capacity=[10, 10, 10],
    )
    a = Pairs(Facts(p))
    node = np.array([0, 1])
    assert descend(a, node) == 1
    assert node.tolist() == [1, 2]
    assert excess_of(a, node) == 0 and _cost(p, node) == 3


def test_restarts_are_seeded_and_stop_at_the_move_budget() -> None:
    """With a large move budget and no deadline every restart runs (16 priced runs) and the
    same seed gives the same answer; a budget of 0 moves makes one run only."""
    p = gap.to_problem(gen.generate("d", 5, 60, seed=1))
    first = regret_start(Facts(p), max_moves=10**6, seed=5)
    again = regret_start(Facts(p), max_moves=10**6, seed=5)
    assert first.starts == 16 and first.solution == again.solution
    assert first.solution is not None and check(p, first.solution) == []
    single = regret_start(Facts(p), max_moves=0)
    assert single.starts == 1 and single.solution is not None


def test_should_stop_ends_the_descent_and_restarts_and_the_pricing() -> None:
    """The caller's should_stop acts where a deadline does: asked from the start, no pricing
    step, repair or descent move is made and nothing restarts, and the first construction
    that fits as built still answers (no bound: no price step was taken); turning True after
    a few questions, it ends the run well before the 16 restarts a move budget alone
    allows."""
    p = gap.to_problem(gen.generate("d", 5, 60, seed=1))
    asked = [0]

    def always() -> bool:
        asked[0] += 1
        return True

    stopped = regret_start(Facts(p), max_moves=10**6, seed=5, should_stop=always)
    assert asked[0] > 0
    assert stopped.starts == 1 and stopped.moves == 0
    assert stopped.solution is not None and check(p, stopped.solution) == []
    assert stopped.cost_bound is None

    def after_ten() -> bool:
        asked[0] += 1
        return asked[0] > 10

    asked[0] = 0
    cut = regret_start(Facts(p), max_moves=10**6, seed=5, should_stop=after_ten)
    assert cut.solution is not None and check(p, cut.solution) == []
    assert 1 <= cut.starts < 16
