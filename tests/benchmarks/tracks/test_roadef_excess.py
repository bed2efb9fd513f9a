"""Where an answer's cost lies above the aggregate floor (benchmarks/tracks/roadef_excess.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tracks import roadef, roadef_excess, roadef_walk
from benchmarks.tracks.roadef_generate import Shape, generate, write

SHAPE = Shape(processes=200, machines=20, resources=4, seed=5)


def _holds(inst: roadef.Instance, sol: roadef.RoadefSolution) -> int:
    """Asserts each term's cost above its floor is its weight times the distances of the
    machines it lists on the wrong side, summed, and that the terms and the moves add up to
    the evaluator's cost; returns the cost above the floor."""
    terms = roadef_excess.terms(inst, sol)
    for t in terms:
        assert t.above >= 0, t.name
        assert t.above == t.weight * sum(abs(d) for _, d in t.wrong), t.name
        assert [abs(d) for _, d in t.wrong] == sorted((abs(d) for _, d in t.wrong), reverse=True)
    costs = roadef.costs(inst, sol)
    moves = costs.process_move + costs.service_move + costs.machine_move
    total = int(roadef.evaluate(inst, sol).objective)
    assert total == sum(t.cost for t in terms) + moves
    return total - sum(t.floor for t in terms)


def test_terms_add_up_before_and_after_a_walk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a generated instance with balances: the initial assignment and a walked answer, each
    term on the wrong-side machines it names; the walk leaves less above the floor."""
    model, _ = write(generate(SHAPE), tmp_path, "x")
    inst = roadef.load(model)
    assert inst.balances
    walked = tmp_path / "walked.txt"
    assert roadef_walk.main([str(model), "--seconds", "2", "--out", str(walked)]) == 0
    capsys.readouterr()
    before = _holds(inst, roadef.RoadefSolution(inst.initial))
    after = _holds(inst, roadef.read_solution(walked, inst))
    assert 0 <= after < before


def test_cli_reports_each_answer_or_the_initial_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, _ = write(generate(SHAPE), tmp_path, "x")
    inst = roadef.load(model)
    assert roadef_excess.main([str(model)]) == 0
    out = capsys.readouterr().out
    cost = roadef.evaluate(inst, roadef.RoadefSolution(inst.initial)).objective
    assert out.startswith(f"initial: cost {cost:,}, aggregate floor ")
    assert "moves: 0 (process 0, service 0, machine 0; 0 processes moved)" in out
    answer = tmp_path / "a.txt"
    roadef.write_solution(answer, inst, roadef.RoadefSolution(inst.initial))
    assert roadef_excess.main([str(model), str(answer), str(answer)]) == 0
    out = capsys.readouterr().out
    assert out.count("a.txt: cost ") == 2 and "initial:" not in out


def test_set_a_initial_assignments_lie_where_the_published_values_say(benchdata: Path) -> None:
    """Each set-A initial assignment's cost above the floor is best_known.csv's initial cost
    less its aggregate lower bound, and its terms add up (the floors are the published bound:
    test_roadef.py)."""
    refs = roadef.references(benchdata)
    found = [(name, path) for name, path in roadef.instances(benchdata) if name.startswith("a")]
    assert len(found) == 10
    for name, path in found:
        inst = roadef.load(path)
        above = _holds(inst, roadef.RoadefSolution(inst.initial))
        initial = dict(refs[name].values)["initial_cost"]
        bound = refs[name].lower_bound
        assert bound is not None
        assert above == initial - bound, name
