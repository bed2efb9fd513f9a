"""Node-centric fill (node_fill.py), the engine's stop at a proven bound (gap target 0), its
wall margin, and the order of interchangeable nodes in the CP-SAT model."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace

import pytest

from benchmarks.tracks import vbp
from scheduler.placement import engine
from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.solver import CpSatModel, SearchLimits
from scheduler.placement.greedy.node_fill import applies, node_fill
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.scale import job_work
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.model.outcome import Outcome, Status
from scheduler.placement.model.params import EngineParams
from scheduler.placement.stages.pool import Clock
from scheduler.placement.stages.state import wall_margin

Events = list[tuple[str, dict[str, object]]]


def _packing(seed: int, items: int = 24) -> Problem:
    """Two-dimensional vector bin packing, sizes 10-60 of 100, one node per FFD bin."""
    rng = random.Random(seed)
    sizes = tuple((rng.randint(10, 60), rng.randint(10, 60)) for _ in range(items))
    inst = vbp.Instance("t", (100, 100), sizes, (1,) * items)
    return vbp.to_problem(inst)


def _bins(assignment: tuple[tuple[int, ...] | None, ...]) -> int:
    return len({nodes[0] for nodes in assignment if nodes})


def _solve(p: Problem, params: EngineParams) -> tuple[Outcome, Events]:
    events: Events = []

    def progress(event: str, fields: Mapping[str, object]) -> None:
        events.append((event, dict(fields)))

    return engine.solve(p, params=params, progress=progress), events


def test_node_fill_packs_in_fewer_bins_than_ffd() -> None:
    """Seed 2: first-fit decreasing needs 10 bins; the node-centric rules 9, every answer
    passes the checker and places every (required) item."""
    p = _packing(2)
    assert p.num_nodes == 10  # the FFD count
    answers = list(node_fill(p, Facts(p)))
    assert answers
    for _, solution in answers:
        assert check(p, solution) == []
        assert all(nodes is not None for nodes in solution.assignment)
    assert min(_bins(s.assignment) for _, s in answers) == 9


def test_should_stop_ends_the_rules_between_nodes() -> None:
    """The caller's should_stop: True from the start gives no answer (a rule cut short
    yields nothing); True once one answer is out ends the list there."""
    p = _packing(2)
    assert list(node_fill(p, Facts(p), should_stop=lambda: True)) == []
    answers: list[tuple[str, Solution]] = []
    for answer in node_fill(p, Facts(p), should_stop=lambda: len(answers) >= 1):
        answers.append(answer)
    assert len(answers) == 1 and check(p, answers[0][1]) == []
    assert len(list(node_fill(p, Facts(p)))) > 1


def test_engine_takes_the_node_fill_and_stops_at_the_bound() -> None:
    """The 9 bins meet the LP's bin-counting bound: proven optimal right after the bound,
    long before the 5 s budget, from the node fill."""
    p = _packing(2)
    o, events = _solve(p, EngineParams(time_limit_s=5.0))
    assert o.solution is not None and check(p, o.solution) == []
    assert _bins(o.solution.assignment) == 9
    assert o.status is Status.OPTIMAL
    assert (o.source or "").startswith("node_fill_")
    assert o.timings.lns_ms == 0 and o.timings.cpsat_ms == 0
    assert [f["after"] for e, f in events if e == "early_stop"] == ["lp_bound"]


def test_lns_stops_at_the_bound_without_a_gap_target() -> None:
    """Seed 3, LNS only (no bin elimination, which finds the optimum first): once a piece
    reaches the LP bound the answer is optimal, and LNS ends there (gap_target 0) instead of
    spending the rest of its 5 s."""
    p = _packing(3)
    params = EngineParams(time_limit_s=5.0, exact_max_pairs=0, bin_elimination=False)
    o, events = _solve(p, params)
    assert o.solution is not None and check(p, o.solution) == []
    assert o.status is Status.OPTIMAL
    assert [f["after"] for e, f in events if e == "early_stop"] == ["lns"]
    assert o.timings.total_ms < 2500


def test_node_fill_applies_only_where_opening_nodes_costs() -> None:
    """Without node opening costs, or with the energy weight off, the rules do not run."""
    p = _packing(2)
    assert applies(p, ObjectiveWeights())
    assert not applies(p, ObjectiveWeights(energy=0))
    assert not applies(replace(p, node_open_cost=()), ObjectiveWeights())


def test_wall_clock_mode_keeps_a_margin_for_the_last_step() -> None:
    """Non-deterministic mode plans its stages within 95% of time_limit_s, so the overshoot of
    the last search step (measured: 1.01-1.04 s at 1 s before the margin) stays inside the
    limit; the solve itself is checked loosely, since the machine may be loaded."""
    p = _packing(11, items=200)
    params = EngineParams(time_limit_s=1.0, deterministic=False, exact_max_pairs=0)
    run = engine._Run(p, params, lambda event, fields: None, Clock())
    assert run._remaining() <= 0.95
    o, _ = _solve(p, params)
    assert o.solution is not None and check(p, o.solution) == []
    assert o.timings.total_ms < 1500


def test_the_margin_grows_with_the_problem_not_with_a_long_limit() -> None:
    """A 5% share of short limits; at 300 s a problem of 200 jobs keeps 2 s plus 0.3 ms a job,
    not 15 s, and one of 100,000 jobs keeps the share."""
    p = _packing(11, items=200)
    margins = []
    for limit in (1.0, 10.0, 300.0):
        run = engine._Run(p, EngineParams(time_limit_s=limit), lambda e, f: None, Clock())
        margins.append(limit - run._remaining())
    assert margins == pytest.approx([0.05, 0.5, 2.0 + 200 * 3e-4], abs=0.01)
    assert wall_margin(300.0, 1_000) == pytest.approx(2.3)
    assert wall_margin(300.0, 100_000) == pytest.approx(15.0)


def test_identical_nodes_open_in_order_and_a_hint_is_relabelled() -> None:
    """The ten FFD bins of seed 2 are interchangeable: the exact model opens them in index
    order, and a hint on the last nine bins is relabelled onto the first nine (same value),
    so CP-SAT keeps it and answers with a prefix of the nodes."""
    p = _packing(2)
    facts = Facts(p)
    model = CpSatModel(facts, TermWeights.of(p, ObjectiveWeights()), job_work(p))
    assert model.parts.symmetric == [list(range(10))]
    _, packed = next(node_fill(p, facts))
    flipped = Solution(tuple((9 - nodes[0],) if nodes else None for nodes in packed.assignment))
    assert check(p, flipped) == []
    model.hint(flipped)
    assert model.hint_value == evaluate(p, flipped).value
    result = model.solve(SearchLimits(time_limit_s=0.5))
    assert result.solution is not None and check(p, result.solution) == []
    used = sorted({nodes[0] for nodes in result.solution.assignment if nodes})
    assert used == list(range(len(used)))
    assert len(used) <= _bins(flipped.assignment)
