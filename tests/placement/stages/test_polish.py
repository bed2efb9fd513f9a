"""The migration polish (stages/polish.py) and the cost floors it starts from
(lp/all_placed.py's `cost_floors`)."""

from __future__ import annotations

import itertools
from dataclasses import replace

from scheduler.placement import engine
from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.solver import CpSatModel, SearchLimits
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import (
    Evaluator,
    balance_shortfall,
    evaluate,
    load_excess,
)
from scheduler.placement.judges.scale import job_work
from scheduler.placement.judges.usage import node_usage
from scheduler.placement.judges.verify import check
from scheduler.placement.lp.all_placed import cost_floors
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.model.params import EngineParams
from scheduler.placement.stages.pool import Clock
from tests.placement.build import ROADEF
from tests.placement.engine.helpers import Events, solve_with_events

# Three nodes of 10 CPUs, 7 of them below the safety level, load weight 1: A and B (5 each)
# share node 0 and are 3 over it; C and D (2 each) are on node 1, node 2 is empty. 14 CPUs
# against 21 of safety: the load floor is 0. Moving A to node 2 reaches it with one move;
# moving C to node 2 and A to node 1 reaches it with two.
CROWDED = Problem(
    resources=("cpu",),
    node_capacity=((10,), (10,), (10,)),
    node_group=(0, 0, 0),
    group_cost=((0,),),
    node_sets=((0, 1, 2),),
    job_demand=((5,), (5,), (2,), (2,)),
    job_replicas=(1, 1, 1, 1),
    job_priority=(0, 0, 0, 0),
    job_order=(0, 1, 2, 3),
    job_nodes=(0, 0, 0, 0),
    node_safety=((7,), (7,), (7,)),
    load_weight=(1,),
    job_required=(True,) * 4,
    job_current=((0,), (0,), (1,), (1,)),
    job_move_cost=(1, 1, 1, 1),
)
TWO_MOVES = Solution(((1,), (0,), (2,), (1,)))


def _run(p: Problem, best: Solution, events: Events) -> engine._Run:
    """An engine run whose pool holds `best` (as if the reassignment search had left it)."""
    run = engine._Run(
        p,
        EngineParams(time_limit_s=5.0, deterministic=True),
        lambda event, fields: events.append((event, dict(fields))),
        Clock(),
    )
    assert run.pool.offer("test", best)
    return run


def test_floors_hold_for_every_answer_and_match_a_hand_count() -> None:
    """The statement's example: r1 and r2 stay under the total safety (28 of 44, 230 of 400),
    so the load floors are 0; the balance floor is 20 x (65 - 28) - (840 - 230) = 130. No
    placement of the three processes, feasible or not, goes below either."""
    floors = cost_floors(Facts(ROADEF))
    assert floors.load == (0, 0)
    assert floors.balance == (130,)
    demands = Evaluator(ROADEF).demands
    lowest = None
    for nodes in itertools.product(range(4), repeat=3):
        used = node_usage(ROADEF, demands, tuple((n,) for n in nodes))
        assert all(e >= f for e, f in zip(load_excess(ROADEF, used), floors.load, strict=True))
        short = balance_shortfall(ROADEF, used)[0]
        assert short >= floors.balance[0]
        lowest = short if lowest is None else min(lowest, short)
    assert lowest is not None and lowest >= 130


def test_the_split_terms_add_up_to_the_evaluators() -> None:
    """load_excess and balance_shortfall, weighted and summed, are the evaluator's terms."""
    demands = Evaluator(ROADEF).demands
    for nodes in itertools.product(range(4), repeat=3):
        s = Solution(tuple((n,) for n in nodes))
        used = node_usage(ROADEF, demands, s.assignment)
        ev = evaluate(ROADEF, s)
        loads = load_excess(ROADEF, used)
        assert ev.load == sum(w * e for w, e in zip(ROADEF.load_weight, loads, strict=True))
        assert ev.balance == 10 * balance_shortfall(ROADEF, used)[0]


def test_polish_takes_back_the_move_it_does_not_need() -> None:
    assert check(CROWDED, TWO_MOVES) == []
    assert evaluate(CROWDED, TWO_MOVES).load == 0
    events: Events = []
    run = _run(CROWDED, TWO_MOVES, events)
    assert run._polish_applies()
    run._polish()
    assert run.pool.best is not None
    best = run.pool.best.solution
    assert check(CROWDED, best) == []
    assert evaluate(CROWDED, best).load == 0
    assert evaluate(CROWDED, best).migration == 1
    names = [e for e, _ in events]
    start = dict(events[names.index("polish_start")][1])
    done = dict(events[names.index("polish_done")][1])
    assert start["migration"] == 2
    assert done["migration"] == 1


def test_floors_node_by_node_admit_exactly_the_answers_at_the_floors() -> None:
    """Every placement of CROWDED fixed in turn into the polish's model: CP-SAT finds it
    feasible exactly when the checker passes it with every job placed and its load at the
    floor (0), so the per-node constraints (cpsat/floors.py) cut no answer the caps admit."""
    facts = Facts(CROWDED)
    floors = cost_floors(facts)
    terms = TermWeights.of(CROWDED, ObjectiveWeights())
    seen = {True: 0, False: 0}
    for nodes in itertools.product(range(3), repeat=4):
        s = Solution(tuple((n,) for n in nodes))
        model = CpSatModel(facts, terms, job_work(CROWDED))
        model.hint(TWO_MOVES)
        model.polish_migration(floors.load, floors.balance)
        parts = model.parts
        for (u, n), x in parts.x.items():
            jobs = parts.classes[u].jobs
            model.model.add(x == sum(1 for j in jobs if s.assignment[j] == (n,)))
        result = model.solve(SearchLimits(5.0, deterministic=True))
        at_floor = check(CROWDED, s) == [] and evaluate(CROWDED, s).load == floors.load[0] == 0
        assert (result.solution is not None) == at_floor, nodes
        seen[at_floor] += 1
    # Above 7 on some node: A with B (3 x 9 placements), or A or B with both C and D (2 x 6).
    assert seen == {True: 81 - 39, False: 27 + 12}


def test_polish_repeats() -> None:
    """Deterministic mode: the same answer twice."""
    answers = []
    for _ in range(2):
        run = _run(CROWDED, TWO_MOVES, [])
        run._polish()
        assert run.pool.best is not None
        answers.append(run.pool.best.solution)
    assert answers[0] == answers[1]
    assert evaluate(CROWDED, answers[0]).migration == 1


def test_no_polish_above_the_floor_or_with_other_costs() -> None:
    """Load above its floor (the starting placement: node 0 is 3 over), or a price to pay:
    the caps would cut better answers, so the stage does not run."""
    start = Solution(((0,), (0,), (1,), (1,)))
    assert evaluate(CROWDED, start).load == 3
    assert not _run(CROWDED, start, [])._polish_applies()
    priced = replace(CROWDED, group_cost=((1,),))
    assert evaluate(priced, TWO_MOVES).money > 0
    assert not _run(priced, TWO_MOVES, [])._polish_applies()
    unmoved = Solution(((2,), (0,), (1,), (1,)))  # at the floor with one move already
    assert _run(CROWDED, unmoved, [])._polish_applies()


def test_engine_polishes_after_the_reassignment_search() -> None:
    """Beyond exact CP-SAT (exact_max_pairs 0) the engine runs reassignment, then the polish
    once the load is at its floor; the answer moves one job."""
    out, events = solve_with_events(
        CROWDED, EngineParams(time_limit_s=1.0, deterministic=True, exact_max_pairs=0)
    )
    names = [e for e, _ in events]
    assert names.index("reassign_done") < names.index("polish_done")
    assert out.solution is not None
    assert check(CROWDED, out.solution) == []
    assert evaluate(CROWDED, out.solution).migration == 1
    assert evaluate(CROWDED, out.solution).load == 0
