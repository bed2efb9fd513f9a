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
from scheduler.placement.model import Balance, ObjectiveWeights, Problem, Solution
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


# CROWDED with a safety level of 4: 14 CPUs against 12 of safety, so the load floor is 2 and an
# answer is at it only if no node is below 4 (A, B and C with D on three nodes, in any order).
SHORT = replace(CROWDED, node_safety=((4,), (4,), (4,)))


def _admitted(p: Problem, hint: Solution) -> dict[bool, int]:
    """Fixes every placement of `p` in turn into the polish's model and asserts that CP-SAT
    finds it feasible exactly when the checker passes it and its load, resource by resource,
    and each balance's shortfall are at their floors: the per-node constraints
    (cpsat/floors.py) cut no answer the summed caps admit, and admit none they cut. Returns
    how many placements were at the floors and how many not."""
    facts = Facts(p)
    floors = cost_floors(facts)
    terms = TermWeights.of(p, ObjectiveWeights())
    demands = Evaluator(p).demands
    seen = {True: 0, False: 0}
    for nodes in itertools.product(range(p.num_nodes), repeat=p.num_jobs):
        s = Solution(tuple((n,) for n in nodes))
        model = CpSatModel(facts, terms, job_work(p))
        model.hint(hint)
        model.polish_migration(floors.load, floors.balance)
        parts = model.parts
        for (u, n), x in parts.x.items():
            jobs = parts.classes[u].jobs
            model.model.add(x == sum(1 for j in jobs if s.assignment[j] == (n,)))
        result = model.solve(SearchLimits(5.0, deterministic=True))
        used = node_usage(p, demands, s.assignment)
        at_floor = (
            check(p, s) == []
            and tuple(load_excess(p, used)) == tuple(floors.load)
            and tuple(balance_shortfall(p, used)) == tuple(floors.balance)
        )
        assert (result.solution is not None) == at_floor, nodes
        seen[at_floor] += 1
    return seen


def test_floors_node_by_node_admit_exactly_the_answers_at_the_floors() -> None:
    """The load floor at 0 (no node may go above its safety level)."""
    assert cost_floors(Facts(CROWDED)).load == (0,)
    # Above 7 on some node: A with B (3 x 9 placements), or A or B with both C and D (2 x 6).
    assert _admitted(CROWDED, TWO_MOVES) == {True: 81 - 39, False: 27 + 12}


def test_floors_node_by_node_above_zero() -> None:
    """The load floor above 0 (no node may stay below its safety level): A, B and the pair
    C, D each on a node of their own, 3! = 6 of the 81 placements."""
    assert cost_floors(Facts(SHORT)).load == (2,)
    assert _admitted(SHORT, TWO_MOVES) == {True: 6, False: 75}


# One balance, avail(cpu) - avail(mem) >= 0 on every node: each node's gap is its mem usage less
# its cpu usage. A (4 cpu, 1 mem), B (1, 4), C (1, 3), D (1, 1) add -3, 3, 2 and 0: the gaps sum
# to 2, so the balance floor is 2 and an answer is at it only if no node's gap is below 0, that
# is, A shares its node with B (with C alone it is at -1). Everything runs on node 0 (gap 2).
GAPS = Problem(
    resources=("cpu", "mem"),
    node_capacity=((10, 10),) * 3,
    node_group=(0, 0, 0),
    group_cost=((0, 0),),
    node_sets=((0, 1, 2),),
    job_demand=((4, 1), (1, 4), (1, 3), (1, 1)),
    job_replicas=(1, 1, 1, 1),
    job_priority=(0, 0, 0, 0),
    job_order=(0, 1, 2, 3),
    job_nodes=(0, 0, 0, 0),
    balances=(Balance(r1=0, r2=1, target=1, weight=1),),
    job_required=(True,) * 4,
    job_current=((0,),) * 4,
    job_move_cost=(1, 1, 1, 1),
)
# The same with cpu and mem traded: the gaps sum to -2, the floor is 0, and no node's gap may
# be above 0 (A shares its node with B again).
GAPS_BELOW = replace(GAPS, job_demand=tuple((m, c) for c, m in GAPS.job_demand))
AT_HOME = Solution(((0,),) * 4)


def test_floors_node_by_node_with_a_balance() -> None:
    """A balance's floor above 0 and at 0: A and B on one of the 3 nodes, C and D anywhere
    (no node's gap changes sign then), 3 x 9 of the 81 placements in both problems."""
    assert cost_floors(Facts(GAPS)).balance == (2,)
    assert cost_floors(Facts(GAPS_BELOW)).balance == (0,)
    assert _admitted(GAPS, AT_HOME) == {True: 27, False: 54}
    assert _admitted(GAPS_BELOW, AT_HOME) == {True: 27, False: 54}


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
